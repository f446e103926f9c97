using System.Text.Json;
using MedGemma.Engine.IO;
using MedGemma.Engine.Tests.Support;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

public class SafeTensorsFileTests
{
    static string Tiny(string file) => Path.Combine(Fixtures.Folder("tiny-gemma3"), file);

    [Fact]
    public void ReadsF32ValuesExactlyAsStored()
    {
        var path = Tiny("model.safetensors");
        using var f = SafeTensorsFile.Open(path);
        var raws = RawSafeTensors.ReadAll(path);
        Assert.Equal(raws.Count, f.Entries.Count);
        Assert.Equal("pt", f.Metadata["format"]);
        foreach (var raw in raws)
        {
            Assert.Equal("F32", raw.DType);
            using var t = f.Read(raw.Name);
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.Equal(raw.Shape, t.shape);
            Assert.Equal(RawSafeTensors.F32(raw.Bytes), t.data<float>().ToArray());
        }
    }

    [Fact]
    public void ThreeFixtureLayoutsHoldTheSameTensorsUnderOneKeyMap()
    {
        using var v5 = SafeTensorsFile.Open(Tiny("model.v5-layout.safetensors"));
        Assert.All(v5.Names, n => Assert.Equal(n, KeyLayout.ToModuleKey(n)));
        foreach (var other in new[] { "model.safetensors", "model.published-layout.safetensors" })
        {
            using var f = SafeTensorsFile.Open(Tiny(other));
            var mapped = f.Names.ToDictionary(KeyLayout.ToModuleKey, n => n);
            Assert.Equal(v5.Names.OrderBy(n => n, StringComparer.Ordinal), mapped.Keys.OrderBy(n => n, StringComparer.Ordinal));
            foreach (var name in v5.Names)
            {
                using var a = v5.Read(name);
                using var b = f.Read(mapped[name]);
                Assert.True(a.Equals(b), $"{other}: {mapped[name]} differs from {name}");
            }
        }
    }

    [Fact]
    public void ShardedBf16SnapshotDecodesToTheRawBitsAndMatchesItsConfig()
    {
        var folder = Fixtures.Folder("tiny-medgemma-snapshot");
        var resolved = CheckpointFiles.Resolve(folder);
        Assert.Equal(2, resolved.Files.Count);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var text = config.RootElement.GetProperty("text_config");
        long vocab = text.GetProperty("vocab_size").GetInt64(), hidden = text.GetProperty("hidden_size").GetInt64();
        int tensors = 0;
        foreach (var shard in resolved.Files)
        {
            using var f = SafeTensorsFile.Open(shard);
            foreach (var raw in RawSafeTensors.ReadAll(shard))
            {
                Assert.Equal("BF16", raw.DType);
                using var t = f.Read(raw.Name, CPU, ScalarType.Float32);
                Assert.Equal(raw.Shape, t.shape);
                Assert.Equal(RawSafeTensors.Bf16ToFloat(raw.Bytes), t.data<float>().ToArray());
                using var native = f.Read(raw.Name);
                Assert.Equal(ScalarType.BFloat16, native.dtype);
                Assert.Equal(raw.Bytes, native.bytes.ToArray());
                if (KeyLayout.ToModuleKey(raw.Name) == KeyLayout.EmbedTokensKey) Assert.Equal(new[] { vocab, hidden }, t.shape);
                tensors++;
            }
        }
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, CheckpointFiles.IndexFileName)));
        Assert.Equal(index.RootElement.GetProperty("weight_map").EnumerateObject().Count(), tensors);
    }

    [Fact]
    public void ReadIntoConvertsAndRejectsWrongShape()
    {
        using var f = SafeTensorsFile.Open(Tiny("model.v5-layout.safetensors"));
        var e = f.Entries.First(x => x.Shape.Length == 2);
        using var dst = zeros(e.Shape, ScalarType.BFloat16);
        f.ReadInto(e.Name, dst);
        using var expected = f.Read(e.Name, CPU, ScalarType.BFloat16);
        Assert.True(dst.Equals(expected));
        using var wrong = zeros(new[] { e.Shape[0] + 1, e.Shape[1] });
        var ex = Assert.Throws<MedGemmaException>(() => f.ReadInto(e.Name, wrong));
        Assert.Equal("CheckpointShapeMismatch", ex.ErrorId);
        Assert.Contains(e.Name, (string)ex.Target!);
        var missing = Assert.Throws<MedGemmaException>(() => f.Read("no.such.tensor"));
        Assert.Equal(MedGemmaErrorKind.NotFound, missing.Kind);
    }

    [Fact]
    public void MissingFileIsNotFound()
    {
        using var tmp = new TempDir();
        var ex = Assert.Throws<MedGemmaException>(() => SafeTensorsFile.Open(tmp.File("absent.safetensors")));
        Assert.Equal(MedGemmaErrorKind.NotFound, ex.Kind);
        Assert.Equal(tmp.File("absent.safetensors"), ex.Target);
    }
}
