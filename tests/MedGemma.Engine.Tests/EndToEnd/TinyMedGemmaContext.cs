using System.Text.Json;
using MedGemma.Engine.Imaging;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Tokenization;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.EndToEnd;

/// <summary>
/// tiny-medgemma-snapshot + the npm tokenizer.json as one model folder, with tiny-medgemma-e2e/golden.*.
/// The model is loaded on first use, so the prompt and pixel checks do not pay for it.
/// </summary>
public sealed class TinyMedGemmaContext : IDisposable
{
    readonly Lazy<MedGemmaModel> model;

    public string Folder { get; } = TokenizerAssets.SnapshotFolderWithTokenizer();
    public string GoldenFolder { get; } = Fixtures.Folder("tiny-medgemma-e2e");
    public PromptBuilder Prompts { get; }
    public ImagePreprocessor Images { get; }
    public JsonDocument GoldenJson { get; }
    public SafeTensorsFile Golden { get; }
    /// <summary>The model, loaded on first use: touch it before opening a dispose scope, which would otherwise own the weights.</summary>
    public MedGemmaModel Model => model.Value;

    public TinyMedGemmaContext()
    {
        Prompts = PromptBuilder.FromModelFolder(Folder);
        Images = ImagePreprocessor.FromModelFolder(Folder);
        GoldenJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenFolder, "golden.json")));
        Golden = SafeTensorsFile.Open(Path.Combine(GoldenFolder, "golden.safetensors"));
        model = new Lazy<MedGemmaModel>(() => MedGemmaModel.Load(Folder, CPU, ScalarType.Float32));
    }

    public JsonElement Case(int i) => GoldenJson.RootElement.GetProperty("cases")[i];

    /// <summary>The golden case's prompt as our options: user text, optional system prompt, no language.</summary>
    public PromptOptions Options(int i)
    {
        var c = Case(i);
        var system = c.GetProperty("system");
        return new PromptOptions
        {
            Instruction = c.GetProperty("prompt").GetString()!,
            SystemPrompt = system.ValueKind == JsonValueKind.String ? system.GetString() : null,
        };
    }

    /// <summary>The case's image file from tests/fixtures/images.</summary>
    public string ImagePath(int i) => Path.Combine(Fixtures.Root, "images", Case(i).GetProperty("image").GetString()!);

    public long[] Longs(string name)
    {
        using var t = Golden.Read(name);
        return t.data<long>().ToArray();
    }

    public float[] Floats(string name)
    {
        using var t = Golden.Read(name);
        return t.data<float>().ToArray();
    }

    public void Dispose()
    {
        if (model.IsValueCreated) model.Value.Dispose();
        Golden.Dispose();
        GoldenJson.Dispose();
    }
}
