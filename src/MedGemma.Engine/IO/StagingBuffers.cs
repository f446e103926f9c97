using MedGemma.Engine.Runtime;
using static TorchSharp.torch;

namespace MedGemma.Engine.IO;

/// <summary>
/// Two reusable host buffers per dtype, each of at most one chunk, pinned (page-locked) when loading to CUDA so a
/// host→device copy runs by DMA, asynchronously, while the next chunk is read from disk into the other buffer.
/// Tensors larger than a chunk are staged in pieces, so host memory stays at 2 chunks per dtype whatever the
/// largest tensor is (MedGemma 4B's 1.3 GB embedding included), and pinning a small buffer once is cheap.
/// </summary>
internal sealed class StagingBuffers : IDisposable
{
    readonly Dictionary<ScalarType, long> _capacity = new();
    readonly Dictionary<(ScalarType, int), Tensor> _buffers = new();

    /// <summary>False when pinning was asked for but libtorch refused (copies are then synchronous but still correct).</summary>
    public bool Pinned { get; private set; }

    /// <param name="needs">The dtype and element count of every tensor to stage.</param>
    /// <param name="chunkBytes">The most bytes one buffer holds (at least one element).</param>
    public StagingBuffers(IEnumerable<(ScalarType Type, long Elements)> needs, long chunkBytes, bool pin)
    {
        foreach (var (type, n) in needs)
        {
            long chunk = Math.Max(1, chunkBytes / SafeTensorsDType.ElementSize(type));
            _capacity[type] = Math.Max(Math.Min(n, chunk), _capacity.GetValueOrDefault(type));
        }
        Pinned = pin;
    }

    /// <summary>How many elements of <paramref name="type"/> one buffer holds: the piece size for larger tensors.</summary>
    public long ChunkElements(ScalarType type) => _capacity[type];

    /// <summary>The first <paramref name="elements"/> elements of buffer <paramref name="slot"/> (0 or 1), flat; dispose the view, not the buffer.</summary>
    public Tensor View(int slot, ScalarType type, long elements)
    {
        if (elements > _capacity[type]) throw new ArgumentOutOfRangeException(nameof(elements));
        if (!_buffers.TryGetValue((type, slot), out var buffer))
        {
            buffer = Allocate(type, _capacity[type]);
            _buffers[(type, slot)] = buffer;
        }
        return buffer.narrow(0, 0, elements);
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
