using MedGemma.Engine.Runtime;
using static TorchSharp.torch;

namespace MedGemma.Engine.IO;

/// <summary>
/// Two reusable host buffers per dtype, each as large as the biggest tensor of that dtype, pinned
/// (page-locked) when loading to CUDA so host→device copies run asynchronously by DMA while the next
/// tensor is read from disk. Host memory stays at 2 × the largest tensor (2.7 GB for MedGemma 4B's
/// bf16 embedding), far below one shard, and is allocated once instead of per tensor.
/// </summary>
internal sealed class StagingBuffers : IDisposable
{
    readonly Dictionary<ScalarType, long> _capacity = new();
    readonly Dictionary<(ScalarType, int), Tensor> _buffers = new();

    /// <summary>False when pinning was asked for but libtorch refused (copies are then synchronous but still correct).</summary>
    public bool Pinned { get; private set; }

    public StagingBuffers(IEnumerable<(ScalarType Type, long Elements)> needs, bool pin)
    {
        foreach (var (type, n) in needs)
            _capacity[type] = Math.Max(n, _capacity.GetValueOrDefault(type));
        Pinned = pin;
    }

    /// <summary>A contiguous view of buffer <paramref name="slot"/> (0 or 1) with the given shape; dispose the view, not the buffer.</summary>
    public Tensor View(int slot, ScalarType type, long[] shape)
    {
        if (!_buffers.TryGetValue((type, slot), out var buffer))
        {
            buffer = Allocate(type, _capacity[type]);
            _buffers[(type, slot)] = buffer;
        }
        long n = shape.Aggregate(1L, (a, d) => a * d);
        using var part = buffer.narrow(0, 0, n);
        return part.view(shape);
    }

    Tensor Allocate(ScalarType type, long elements)
    {
        Tensor plain;
        try
        {
            plain = empty(new[] { Math.Max(1, elements) }, type, CPU);
        }
        catch (Exception e) when (TorchErrors.IsOutOfMemory(e))
        {
            throw TorchErrors.OutOfMemory(e, $"allocating a {elements}-element {type} host staging buffer", null);
        }
        if (!Pinned) return plain;
        try
        {
            var pinned = plain.pin_memory();
            plain.Dispose();
            return pinned;
        }
        catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException || TorchErrors.IsOutOfMemory(e))
        {
            // No CUDA host allocator, or pinned memory exhausted: fall back to pageable memory.
            Pinned = false;
            return plain;
        }
    }

    public void Dispose()
    {
        foreach (var b in _buffers.Values) b.Dispose();
        _buffers.Clear();
    }
}
