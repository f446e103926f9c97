using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace MedGemma.Engine.IO;

/// <summary>One tensor of a safetensors file: where its bytes lie (absolute file offsets) and what they mean.</summary>
public sealed record SafeTensorsEntry(string Name, string DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>
/// Parses and validates a safetensors header: an 8-byte little-endian length, then that many bytes of
/// JSON, then the tensor data. Every check the Rust reference makes is made here too (offsets contiguous
/// from 0, sizes consistent with shape × dtype, data exactly filling the file), so a corrupt or
/// truncated file fails here, before any tensor is allocated, with an error naming the file and key.
/// </summary>
public static class SafeTensorsHeader
{
    /// <summary>The Rust reference refuses headers over 100 MB; a real 4B checkpoint's header is ~60 KB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public static (IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata) Read(SafeFileHandle file, string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "BigEndianHost", "safetensors data is little-endian; this host is not.", path);
        long fileLength = RandomAccess.GetLength(file);
        if (fileLength < 8)
            throw Corrupt("SafeTensorsTruncated", $"'{path}' is {fileLength} bytes long, too short to be a safetensors file.", path);
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(file, prefix, 0, path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength < 2 || headerLength > MaxHeaderBytes)
            throw Corrupt("SafeTensorsBadHeaderLength", $"'{path}' declares a header of {headerLength} bytes, which is not a plausible safetensors header.", path);
        if ((long)headerLength > fileLength - 8)
            throw Corrupt("SafeTensorsTruncated", $"'{path}' declares a {headerLength}-byte header but the file has only {fileLength - 8} bytes after the length prefix (truncated?).", path);
        var json = new byte[headerLength];
        ReadExactly(file, json, 8, path);
        long dataStart = 8 + (long)headerLength;
        return Parse(json, dataStart, fileLength - dataStart, path);
    }

    /// <summary>Parses header JSON; <paramref name="dataLength"/> is the number of bytes after the header.</summary>
    public static (IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata) Parse(
        ReadOnlyMemory<byte> json, long dataStart, long dataLength, string path)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json.Span))
            throw Corrupt("SafeTensorsBadHeader", $"The header of '{path}' is not valid UTF-8.", path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Corrupt("SafeTensorsBadHeader", $"The header of '{path}' is not valid JSON: {e.Message}", path, e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Corrupt("SafeTensorsBadHeader", $"The header of '{path}' is not a JSON object.", path);
            var entries = new List<SafeTensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw Corrupt("SafeTensorsBadHeader", $"'{path}' lists tensor '{prop.Name}' twice.", $"{path}:{prop.Name}");
                if (prop.Name == "__metadata__")
                {
                    ReadMetadata(prop.Value, metadata, path);
                    continue;
                }
                entries.Add(ReadEntry(prop.Name, prop.Value, dataStart, path));
            }
            CheckLayout(entries, dataStart, dataLength, path);
            return (entries, metadata);
        }
    }

    static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Corrupt("SafeTensorsBadHeader", $"'__metadata__' in '{path}' is not a JSON object.", path);
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw Corrupt("SafeTensorsBadHeader", $"'__metadata__.{m.Name}' in '{path}' is not a string.", path);
            metadata[m.Name] = m.Value.GetString()!;
        }
    }

    static SafeTensorsEntry ReadEntry(string name, JsonElement value, long dataStart, string path)
    {
        string target = $"{path}:{name}";
        if (value.ValueKind != JsonValueKind.Object)
            throw Corrupt("SafeTensorsBadHeader", $"Tensor '{name}' in '{path}' is not described by a JSON object.", target);
        if (!value.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw Corrupt("SafeTensorsBadHeader", $"Tensor '{name}' in '{path}' has no dtype.", target);
        string dtype = dtypeEl.GetString()!;
        if (!SafeTensorsDType.IsKnown(dtype))
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "SafeTensorsUnknownDType",
                $"Tensor '{name}' in '{path}' has dtype '{dtype}', which this engine does not read (F32, BF16, F16 and integer types are supported).", target);
        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array || shapeEl.GetArrayLength() > 16)
            throw Corrupt("SafeTensorsBadHeader", $"Tensor '{name}' in '{path}' has no valid shape.", target);
        var shape = new long[shapeEl.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw Corrupt("SafeTensorsBadHeader", $"Tensor '{name}' in '{path}' has an invalid dimension in its shape.", target);
            shape[i++] = dim;
            elements = CheckedMul(elements, dim, target, path);
        }
        long bytes = CheckedMul(elements, SafeTensorsDType.ElementSize(dtype), target, path);
        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Corrupt("SafeTensorsBadHeader", $"Tensor '{name}' in '{path}' has no [begin, end] data_offsets.", target);
        if (!offEl[0].TryGetInt64Safe(out long begin) || !offEl[1].TryGetInt64Safe(out long end) || begin < 0 || end < begin)
            throw Corrupt("SafeTensorsBadOffsets", $"Tensor '{name}' in '{path}' has invalid data_offsets.", target);
        if (end - begin != bytes)
            throw Corrupt("SafeTensorsBadOffsets",
                $"Tensor '{name}' in '{path}' spans {end - begin} bytes but its shape [{string.Join(", ", shape)}] of {dtype} needs {bytes}.", target);
        return new SafeTensorsEntry(name, dtype, shape, dataStart + begin, bytes);
    }

    /// <summary>Tensors must tile the data section exactly: sorted by offset, no gap, no overlap, nothing past the end.</summary>
    static void CheckLayout(List<SafeTensorsEntry> entries, long dataStart, long dataLength, string path)
    {
        long expected = dataStart;
        foreach (var e in entries.OrderBy(e => e.Offset).ThenBy(e => e.Length))
        {
            if (e.Offset != expected)
                throw Corrupt("SafeTensorsBadOffsets", e.Offset < expected
                    ? $"Tensor '{e.Name}' in '{path}' overlaps the tensor before it."
                    : $"Tensor '{e.Name}' in '{path}' leaves a gap of {e.Offset - expected} bytes before it.", $"{path}:{e.Name}");
            expected = e.Offset + e.Length;
            if (expected - dataStart > dataLength)
                throw Corrupt("SafeTensorsTruncated",
                    $"Tensor '{e.Name}' in '{path}' ends at byte {expected} but the file has {dataStart + dataLength} bytes (truncated?).", $"{path}:{e.Name}");
        }
        if (expected - dataStart != dataLength)
            throw Corrupt("SafeTensorsBadOffsets",
                $"'{path}' has {dataLength - (expected - dataStart)} bytes after its last tensor that no tensor accounts for.", path);
    }

    static bool TryGetInt64Safe(this JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value);
    }

    static long CheckedMul(long a, long b, string target, string path)
    {
        try { return checked(a * b); }
        catch (OverflowException) { throw Corrupt("SafeTensorsBadHeader", $"A tensor shape in '{path}' is too large.", target); }
    }

    internal static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset, string path)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(file, buffer, offset);
            if (n <= 0)
                throw Corrupt("SafeTensorsTruncated", $"'{path}' ended at byte {offset} while reading (truncated?).", path);
            buffer = buffer[n..];
            offset += n;
        }
    }

    internal static MedGemmaException Corrupt(string id, string message, object target, Exception? inner = null) =>
        new(MedGemmaErrorKind.InvalidData, id, message, target, inner);
}
