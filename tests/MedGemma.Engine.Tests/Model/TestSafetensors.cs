using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>
/// Minimal safetensors reader for the model tests until IO.CheckpointLoader lands on main (then delete this file).
/// Reads F32, BF16 and I64 tensors into CPU tensors.
/// </summary>
internal static class TestSafetensors
{
    public static Dictionary<string, (string Dtype, long[] Shape)> Header(string path)
    {
        using var f = File.OpenRead(path);
        var (header, _) = ReadHeader(f);
        return header.ToDictionary(kv => kv.Key, kv => (kv.Value.Dtype, kv.Value.Shape));
    }

    public static Dictionary<string, Tensor> Read(string path)
    {
        using var f = File.OpenRead(path);
        var (header, dataStart) = ReadHeader(f);
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, e) in header)
        {
            var bytes = new byte[e.End - e.Begin];
            f.Position = dataStart + e.Begin;
            f.ReadExactly(bytes);
            var dtype = e.Dtype switch
            {
                "F32" => ScalarType.Float32,
                "BF16" => ScalarType.BFloat16,
                "I64" => ScalarType.Int64,
                _ => throw new NotSupportedException(e.Dtype),
            };
            var t = torch.empty(e.Shape, dtype: dtype);
            t.bytes = bytes;
            result[name] = t;
        }
        return result;
    }

    record Entry(string Dtype, long[] Shape, long Begin, long End);

    static (Dictionary<string, Entry>, long) ReadHeader(FileStream f)
    {
        var lenBytes = new byte[8];
        f.ReadExactly(lenBytes);
        var len = BitConverter.ToInt64(lenBytes);
        var json = new byte[len];
        f.ReadExactly(json);
        using var doc = JsonDocument.Parse(json);
        var d = new Dictionary<string, Entry>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var offs = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            d[p.Name] = new Entry(p.Value.GetProperty("dtype").GetString()!, p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(), offs[0], offs[1]);
        }
        return (d, 8 + len);
    }

    /// <summary>Strict copy of v5-layout tensors into the model (every key, every shape).</summary>
    public static void LoadInto(nn.Module model, IEnumerable<string> files)
    {
        var sd = model.state_dict();
        var seen = new HashSet<string>();
        using var noGrad = torch.no_grad();
        foreach (var file in files)
            foreach (var (k, t) in Read(file))
            {
                using (t)
                {
                    if (!sd.TryGetValue(k, out var target)) throw new InvalidOperationException("unexpected key " + k);
                    if (!target.shape.SequenceEqual(t.shape)) throw new InvalidOperationException("shape " + k);
                    target.copy_(t.to(target.dtype));
                    seen.Add(k);
                }
            }
        var missing = sd.Keys.Except(seen).ToArray();
        if (missing.Length > 0) throw new InvalidOperationException("missing " + string.Join(",", missing));
    }
}
