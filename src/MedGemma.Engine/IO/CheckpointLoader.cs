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

    /// <param name="staged">Read through reusable (on CUDA pinned) double buffers and overlap disk reads with
    /// host→device copies; otherwise each tensor is read into its own CPU tensor (or straight into a CPU parameter).</param>
    internal static LoadReport Load(nn.Module model, string pathToFolderOrFile, Device device, ScalarType dtype,
        IProgress<LoadProgress>? progress, CancellationToken ct, bool staged)
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
            if (staged) CopyStaged(plan, expected, device, ct, Reported);
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
    /// Two staging buffers alternate: tensor i is read into one while tensor i-1's asynchronous copy drains from the
    /// other. The device is synchronised before each copy is issued, so a buffer is only refilled after the copy
    /// that read it has finished (the copy issued two steps earlier).
    /// </summary>
    static void CopyStaged(LoadPlan plan, Dictionary<string, Tensor> expected, Device device, CancellationToken ct, Action<LoadPlan.Item> reported)
    {
        bool cudaTarget = device.type == DeviceType.CUDA;
        using var staging = new StagingBuffers(
            plan.Items.Select(i => (SafeTensorsDType.ToScalarType(i.Entry.DType), i.Entry.ElementCount)), pin: cudaTarget);
        int slot = 0;
        try
        {
            foreach (var item in plan.Items)
            {
                ThrowIfCancelled(ct, item.File.Path);
                using var view = staging.View(slot, SafeTensorsDType.ToScalarType(item.Entry.DType), item.Entry.Shape);
                item.File.FillFromFile(item.Entry, view);
                var dest = expected[item.ModuleKey];
                try
                {
                    if (cudaTarget) cuda.synchronize(device);
                    dest.copy_(view, nonBlocking: cudaTarget && staging.Pinned);
                }
                catch (Exception e) when (TorchErrors.IsOutOfMemory(e))
                {
                    throw TorchErrors.OutOfMemory(e, $"copying '{item.Entry.Name}' from '{item.File.Path}' to {device}", $"{item.File.Path}:{item.Entry.Name}");
                }
                reported(item);
                slot ^= 1;
            }
        }
        finally
        {
            // Never free a staging buffer while a copy may still be reading it.
            if (cudaTarget) cuda.synchronize(device);
        }
    }

    static void ThrowIfCancelled(CancellationToken ct, string path)
    {
        if (ct.IsCancellationRequested)
            throw new MedGemmaException(MedGemmaErrorKind.Cancelled, "LoadCancelled", $"Loading '{path}' was cancelled.", path,
                new OperationCanceledException(ct));
    }
}
