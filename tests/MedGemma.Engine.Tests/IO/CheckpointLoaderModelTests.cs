using System.Text.Json;
using MedGemma.Engine.Config;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

/// <summary>The real model's state dict against every fixture checkpoint, strictly, values checked against the raw bytes.</summary>
public class CheckpointLoaderModelTests
{
    static string Tiny => Fixtures.Folder("tiny-gemma3");

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("model.published-layout.safetensors")]
    [InlineData("model.v5-layout.safetensors")]
    public void EveryTinyGemma3LayoutLoadsStrictlyIntoTheModel(string file)
    {
        var path = Path.Combine(Tiny, file);
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Tiny));
        var report = CheckpointLoader.Load(model, path, CPU, ScalarType.Float32);
        var raws = RawSafeTensors.ReadAll(path).ToDictionary(r => KeyLayout.ToModuleKey(r.Name));
        var sd = model.state_dict();
        Assert.Equal(raws.Keys.OrderBy(k => k, StringComparer.Ordinal), sd.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(sd.Count, report.Tensors);
        foreach (var (key, t) in sd)
        {
            Assert.Equal(raws[key].Shape, t.shape);
            Assert.Equal(RawSafeTensors.F32(raws[key].Bytes), t.contiguous().data<float>().ToArray());
        }
    }

    [Fact]
    public void TheStateDictKeysAreTheFixtureKeyListInTheV5Layout()
    {
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Tiny));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Tiny, "keys.json")));
        var listed = doc.RootElement.EnumerateArray().Select(e => KeyLayout.ToModuleKey(e.GetString()!)).OrderBy(k => k, StringComparer.Ordinal);
        Assert.Equal(listed, model.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float32)]
    public void TheShardedBf16SnapshotLoadsStrictlyIntoTheModel(ScalarType dtype)
    {
        var folder = Fixtures.Folder("tiny-medgemma-snapshot");
        using var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(folder), CPU, dtype);
        CheckpointLoader.Load(model, folder, CPU, dtype);
        var raws = CheckpointFiles.Resolve(folder).Files.SelectMany(RawSafeTensors.ReadAll).ToDictionary(r => KeyLayout.ToModuleKey(r.Name));
        var sd = model.state_dict();
        Assert.Equal(raws.Count, sd.Count);
        foreach (var (key, t) in sd)
        {
            Assert.Equal(dtype, t.dtype);
            using var f32 = t.to(ScalarType.Float32).contiguous();
            Assert.Equal(RawSafeTensors.Bf16ToFloat(raws[key].Bytes), f32.data<float>().ToArray());
        }
    }
}
