using System.Diagnostics;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.IO;

/// <summary>Progress of a checkpoint load, reported after each tensor.</summary>
public sealed record LoadProgress(string Key, int TensorsDone, int TensorsTotal, long BytesDone, long BytesTotal);

/// <summary>What a load did: counts, bytes read, time, and keys satisfied through tied embeddings.</summary>
public sealed record LoadReport(int Tensors, long Bytes, TimeSpan Elapsed, IReadOnlyList<string> Files, IReadOnlyList<string> TiedKeys);

/// <summary>
/// Loads safetensors weights into an existing module, strictly: the checkpoint's keys (renamed by
/// <see cref="KeyLayout"/>) must equal <c>model.state_dict().Keys</c> (non-persistent buffers such as
/// RoPE frequencies are not in it), with equal shapes. Everything is checked from the headers before
/// the first byte is copied, so a bad checkpoint leaves the model untouched.
/// Tensors are read one at a time into a CPU tensor, copied into the parameter (converting dtype
/// and device on the way) and freed, so host memory never holds a second copy of the model.
/// </summary>
public static class CheckpointLoader
{
    /// <summary>
    /// Loads <paramref name="pathToFolderOrFile"/> into <paramref name="model"/>, whose parameters must already be on
    /// <paramref name="device"/>, floating-point ones in <paramref name="dtype"/> (build the model there; this copies in place).
    /// <para>Gemma 3 ties <c>lm_head.weight</c> to the input embedding: a checkpoint's <c>lm_head.weight</c> is dropped
    /// when the model has no such key and its shape equals the embedding's (values are not compared, which would cost
    /// another 1.3 GB read on the real model); a model that has its own <c>lm_head.weight</c> gets the embedding when the
    /// checkpoint omits it, as <c>tie_word_embeddings</c> does in transformers.</para>
    /// </summary>
    public static LoadReport Load(nn.Module model, string pathToFolderOrFile, Device device, ScalarType dtype,
        IProgress<LoadProgress>? progress = null, CancellationToken ct = default) =>
        Load(model, pathToFolderOrFile, device, dtype, progress, ct, staged: device.type == DeviceType.CUDA);

    /// <param name="staged">Read through two reusable chunk-sized (on CUDA pinned) buffers and overlap disk reads with
    /// host→device copies; otherwise each tensor is read into its own CPU tensor (or straight into a CPU parameter).</param>
    /// <param name="chunkBytes">Staging buffer size; 0 picks <see cref="DefaultChunkBytes"/>.</param>
    internal static LoadReport Load(nn.Module model, string pathToFolderOrFile, Device device, ScalarType dtype,
        IProgress<LoadProgress>? progress, CancellationToken ct, bool staged, long chunkBytes = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(device);
        var clock = Stopwatch.StartNew();
        var resolved = CheckpointFiles.Resolve(pathToFolderOrFile);
        var files = new List<SafeTensorsFile>();
        try
        {
            foreach (var path in resolved.Files)
            {
                ThrowIfCancelled(ct, path);
                files.Add(SafeTensorsFile.Open(path));
            }
            var expected = model.state_dict();
            var plan = LoadPlan.Build(files, resolved, expected, device, dtype);
            using var _ = no_grad();
            long done = 0;
            int count = 0;
            void Reported(LoadPlan.Item item)
            {
                done += item.Entry.Length;
                count++;
                progress?.Report(new LoadProgress(item.ModuleKey, count, plan.Items.Count, done, plan.TotalBytes));
            }
            if (staged) CopyStaged(plan, expected, device, chunkBytes > 0 ? chunkBytes : DefaultChunkBytes(resolved.Files), ct, Reported);
            else
                foreach (var item in plan.Items)
                {
                    ThrowIfCancelled(ct, item.File.Path);
                    item.File.ReadInto(item.Entry.Name, expected[item.ModuleKey]);
                    Reported(item);
                }
            return new LoadReport(count, done, clock.Elapsed, resolved.Files, plan.TiedKeys);
        }
        finally
        {
            foreach (var f in files) f.Dispose();
        }
    }

    /// <summary>
    /// Two staging buffers alternate, chunk by chunk: chunk k is read from disk into one while chunk k-1's asynchronous
    /// copy to the device drains from the other. Before chunk k's copy is issued the device is synchronised, which
    /// waits for chunk k-1's copy, so the buffer that chunk k+1 is read into next is free. On the CPU the same loop
    /// runs with plain buffers and synchronous copies (tests cover it there); on CUDA the buffers are pinned.
    /// </summary>
    static void CopyStaged(LoadPlan plan, Dictionary<string, Tensor> expected, Device device, long chunkBytes, CancellationToken ct, Action<LoadPlan.Item> reported)
    {
        bool cudaTarget = device.type == DeviceType.CUDA;
        using var staging = new StagingBuffers(
            plan.Items.Select(i => (SafeTensorsDType.ToScalarType(i.Entry.DType), i.Entry.ElementCount)), chunkBytes, pin: cudaTarget);
        int slot = 0;
        try
        {
            foreach (var item in plan.Items)
            {
                ThrowIfCancelled(ct, item.File.Path);
                var dest = expected[item.ModuleKey];
                var type = SafeTensorsDType.ToScalarType(item.Entry.DType);
                if (!dest.is_contiguous())
                {
                    // Not a layout our modules make; read it whole and copy it synchronously.
                    item.File.ReadInto(item.Entry.Name, dest);
                    reported(item);
                    continue;
                }
                using var flat = dest.view(-1);
                long total = item.Entry.ElementCount, piece = staging.ChunkElements(type);
                for (long start = 0; start < total; start += piece)
                {
                    long count = Math.Min(piece, total - start);
                    using var buffer = staging.View(slot, type, count);
                    item.File.FillFromFile(item.Entry, start, count, buffer);
                    using var target = flat.narrow(0, start, count);
                    try
                    {
                        if (cudaTarget) cuda.synchronize(device);
                        target.copy_(buffer, nonBlocking: cudaTarget && staging.Pinned);
                    }
                    catch (Exception e) when (TorchErrors.IsOutOfMemory(e))
                    {
                        throw TorchErrors.OutOfMemory(e, $"copying '{item.Entry.Name}' from '{item.File.Path}' to {device}", $"{item.File.Path}:{item.Entry.Name}");
                    }
                    slot ^= 1;
                }
                reported(item);
            }
        }
        finally
        {
            // Never free a staging buffer while a copy may still be reading it; also the one wait for the last copy.
            if (cudaTarget) cuda.synchronize(device);
        }
    }

    /// <summary>The largest staging buffer; a CUDA load holds two per dtype in the checkpoint.</summary>
    internal const long MaxChunkBytes = 64L << 20;

    /// <summary>Bytes per staging buffer: big enough that per-chunk overheads vanish next to the read, small next to a shard.</summary>
    internal static long DefaultChunkBytes(IEnumerable<string> files)
    {
        long largest = files.Select(f => new FileInfo(f).Length).DefaultIfEmpty(0).Max();
        return Math.Clamp(largest / 16, 1L << 20, MaxChunkBytes);
    }

    static void ThrowIfCancelled(CancellationToken ct, string path)
    {
        if (ct.IsCancellationRequested)
            throw new MedGemmaException(MedGemmaErrorKind.Cancelled, "LoadCancelled", $"Loading '{path}' was cancelled.", path,
                new OperationCanceledException(ct));
    }
}
