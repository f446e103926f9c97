using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MedGemma.Engine.Runtime;
using static TorchSharp.torch;

namespace MedGemma.Engine.IO;

/// <summary>
/// Writes safetensors files atomically (a temporary file in the same folder, then a rename), so a
/// crash or cancellation never leaves a half-written adapter or checkpoint under the final name.
/// Tensors are written in name order with <c>{"format":"pt"}</c> metadata, as PyTorch's writer does.
/// </summary>
public static class SafeTensorsWriter
{
    const long ChunkBytes = 1L << 30;

    /// <param name="dtype">When given, floating-point tensors are converted to it (e.g. BF16 for a checkpoint); else each keeps its own.</param>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, ScalarType? dtype = null,
        IReadOnlyDictionary<string, string>? metadata = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var full = Path.GetFullPath(path);
        var items = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in items)
        {
            if (string.IsNullOrEmpty(name) || name == "__metadata__" || !names.Add(name))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "BadTensorName", $"'{name}' cannot be written to '{full}' (empty, reserved or duplicate).", name);
            ArgumentNullException.ThrowIfNull(t, name);
        }

        var codes = items.Select(kv => SafeTensorsDType.FromScalarType(TargetType(kv.Value, dtype))).ToList();
        var header = BuildHeader(items, codes, metadata);
        var folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        var tmp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                for (int i = 0; i < items.Count; i++)
                {
                    if (ct.IsCancellationRequested)
                        throw new MedGemmaException(MedGemmaErrorKind.Cancelled, "WriteCancelled", $"Writing '{full}' was cancelled.", full, new OperationCanceledException(ct));
                    WriteTensor(stream, items[i].Value, TargetType(items[i].Value, dtype), full, items[i].Key);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (IOException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.ResourceUnavailable, "WriteFailed", $"Cannot write '{full}': {e.Message}", full, e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "WriteDenied", $"Cannot write '{full}': {e.Message}", full, e);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    static ScalarType TargetType(Tensor t, ScalarType? dtype) =>
        dtype is { } d && SafeTensorsDType.IsFloatingPoint(t.dtype) ? d : t.dtype;

    static byte[] BuildHeader(List<KeyValuePair<string, Tensor>> items, List<string> codes, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            var meta = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
            if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
            foreach (var (k, v) in meta) w.WriteString(k, v);
            w.WriteEndObject();
            long offset = 0;
            for (int i = 0; i < items.Count; i++)
            {
                var t = items[i].Value;
                long bytes = t.numel() * SafeTensorsDType.ElementSize(codes[i]);
                w.WriteStartObject(items[i].Key);
                w.WriteString("dtype", codes[i]);
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so tensor data starts 8-byte aligned, as the reference writer does.
        var json = ms.ToArray();
        int padded = (json.Length + 7) / 8 * 8;
        var header = new byte[padded];
        json.CopyTo(header, 0);
        header.AsSpan(json.Length).Fill((byte)' ');
        return header;
    }

    static void WriteTensor(Stream stream, Tensor t, ScalarType type, string path, string name)
    {
        if (t.numel() == 0) return;
        Tensor cpu;
        try
        {
            cpu = t.device_type == TorchSharp.DeviceType.CPU && t.dtype == type && t.is_contiguous()
                ? t.alias()
                : t.detach().to(type, CPU).contiguous();
        }
        catch (Exception e) when (TorchErrors.IsOutOfMemory(e))
        {
            throw TorchErrors.OutOfMemory(e, $"staging '{name}' for '{path}'", name);
        }
        using (cpu)
        using (var flat = cpu.view(-1))
        {
            long n = flat.numel();
            long chunk = ChunkBytes / SafeTensorsDType.ElementSize(type);
            for (long start = 0; start < n; start += chunk)
            {
                using var part = flat.narrow(0, start, Math.Min(chunk, n - start));
                stream.Write(part.bytes);
            }
        }
    }
}
