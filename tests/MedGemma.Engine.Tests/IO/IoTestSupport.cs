using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

/// <summary>A module with no forward, holding parameters at arbitrary dotted paths (stands in for the real model).</summary>
internal sealed class ParamTree : nn.Module
{
    public ParamTree() : base(nameof(ParamTree)) { }

    /// <summary>Builds a tree whose state dict has exactly <paramref name="shapes"/> (keys → shapes), zero-filled.</summary>
    public static ParamTree Build(IEnumerable<(string Key, long[] Shape)> shapes, ScalarType dtype, Device? device = null)
    {
        var root = new ParamTree();
        foreach (var (key, shape) in shapes) root.Add(key, nn.Parameter(zeros(shape, dtype, device ?? CPU)));
        return root;
    }

    public void Add(string key, TorchSharp.Modules.Parameter p) => Owner(key, out var leaf).register_parameter(leaf, p);

    public void AddBuffer(string key, Tensor t, bool persistent) => Owner(key, out var leaf).register_buffer(leaf, t, persistent);

    ParamTree Owner(string key, out string leaf)
    {
        var parts = key.Split('.');
        var node = this;
        foreach (var part in parts[..^1])
        {
            var child = node.named_children().FirstOrDefault(c => c.name == part).module as ParamTree;
            if (child is null)
            {
                child = new ParamTree();
                node.register_module(part, child);
            }
            node = child;
        }
        leaf = parts[^1];
        return node;
    }
}

/// <summary>Reads safetensors headers independently of the engine's reader, to check it against.</summary>
internal static class RawSafeTensors
{
    public sealed record Raw(string Name, string DType, long[] Shape, byte[] Bytes);

    public static List<Raw> ReadAll(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var list = new List<Raw>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var off = p.Value.GetProperty("data_offsets");
            long b = off[0].GetInt64(), e = off[1].GetInt64();
            list.Add(new Raw(p.Name, p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(),
                bytes.AsSpan((int)(8 + n + b), (int)(e - b)).ToArray()));
        }
        return list;
    }

    /// <summary>Writes a file with the given header text and data bytes, no validation (for corruption tests).</summary>
    public static void WriteRaw(string path, string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)h.Length);
        f.Write(len);
        f.Write(h);
        f.Write(data);
    }

    /// <summary>bf16 → f32 is the bf16 bits in the high half of a float; independent of torch.</summary>
    public static float[] Bf16ToFloat(byte[] raw)
    {
        var r = new float[raw.Length / 2];
        for (int i = 0; i < r.Length; i++)
            r[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i)) << 16);
        return r;
    }

    public static float[] F32(byte[] raw)
    {
        var r = new float[raw.Length / 4];
        for (int i = 0; i < r.Length; i++) r[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i));
        return r;
    }
}

/// <summary>A fresh temporary folder under the repo's out/ (never /tmp paths in code), removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(Support.Fixtures.RepoRoot, "out", "test-tmp", Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
