using System.Text.Json.Nodes;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Training;

namespace MedGemma.Engine.Tests.Training;

/// <summary>The public entry point on the tiny MedGemma snapshot (real tokenizer, 896×896 images): manifests in, PEFT adapter out.</summary>
// Seeded runs compare adapters: lora_A's init and dropout draw from libtorch's global generator, which
// tests running in parallel would also draw from.
[Collection(nameof(GlobalRngCollection))]
public class LoraTrainerTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("trainer").FullName;
    public void Dispose() => Directory.Delete(dir, true);

    string WriteManifest(string name, params (string Image, string Caption)[] entries)
    {
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        var array = new JsonArray();
        foreach (var (image, caption) in entries)
        {
            var source = Path.Combine(Fixtures.Root, "images", image);
            File.Copy(source, Path.Combine(images, image), true);
            array.Add(new JsonObject { ["image"] = "images/" + image, ["caption"] = caption });
        }
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, array.ToJsonString());
        return path;
    }

    [Fact]
    public void TrainsFromManifestsAndWritesAPeftAdapter()
    {
        var train = WriteManifest("train.json", ("img_gray_300x240.png", "Normal chest radiograph."), ("img_rgb_500x380.png", "Color photograph of a lesion."));
        var val = WriteManifest("val.json", ("img_rgb_500x380.jpg", "Color photograph of a lesion."));
        var output = Path.Combine(dir, "adapter");
        var reports = new List<TrainingProgress>();
        var options = new TrainingOptions
        {
            OutputPath = output, MaxSteps = 2, BatchSize = 2, Rank = 4, LearningRate = 1e-3, LanguageModelOnly = true, Seed = 1,
        };
        var result = LoraTrainer.Train(TokenizerAssets.SnapshotFolderWithTokenizer(), train, val, options, "cpu", new SyncProgress(reports.Add));

        Assert.Equal(2, result.Steps);
        Assert.Equal(output, result.AdapterPath);
        Assert.NotNull(result.BestValidationLoss);
        Assert.True(double.IsFinite(result.FinalTrainingLoss) && result.FinalTrainingLoss > 0);
        Assert.Contains(reports, r => r.Phase == "train" && r.Step == 2 && r.TotalSteps == 2 && r.SamplesPerSecond > 0);
        Assert.Contains(reports, r => r.Phase == "validation" && r.ValidationLoss is not null);
        using var adapter = LoraAdapter.Load(output);
        Assert.Equal(4, adapter.Config.R);
        Assert.Equal(8, adapter.Config.Alpha);
        Assert.All(adapter.Weights.Keys, k => Assert.StartsWith("model.language_model.", k));
        Assert.Equal(8, adapter.Weights.Count); // q_proj and v_proj of 4 text layers, vision tower left alone
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "adapter_config.json")))!;
        Assert.Equal("LORA", (string?)json["peft_type"]);
        Assert.Equal(2, File.ReadAllLines(result.MetricsPath).Count(l => l.Contains("\"loss\"")));
        Assert.True(File.Exists(Path.Combine(result.LastAdapterPath, LoraAdapter.WeightsFileName)));
    }

    [Fact]
    public void GradientCheckpointingTrainsTheSameAdapter()
    {
        var train = WriteManifest("train.json", ("img_gray_300x240.png", "Normal chest radiograph."), ("img_rgb_500x380.png", "Color photograph of a lesion."));
        var adapters = new List<LoraAdapter>();
        foreach (var checkpointing in new[] { false, true })
        {
            var output = Path.Combine(dir, "run" + adapters.Count);
            var options = new TrainingOptions
            {
                OutputPath = output, MaxSteps = 2, BatchSize = 2, Rank = 4, Dropout = 0, LearningRate = 1e-3, Seed = 3,
                GradientCheckpointing = checkpointing,
            };
            LoraTrainer.Train(TokenizerAssets.SnapshotFolderWithTokenizer(), train, null, options, "cpu");
            adapters.Add(LoraAdapter.Load(output));
        }
        using var plain = adapters[0];
        using var ckpt = adapters[1];
        Assert.Equal(plain.Weights.Keys.Order(), ckpt.Weights.Keys.Order());
        foreach (var (key, (a, b)) in plain.Weights)
        {
            var (a2, b2) = ckpt.Weights[key];
            var delta = Math.Max((a - a2).abs().max().item<float>(), (b - b2).abs().max().item<float>());
            Assert.True(delta <= 1e-6, $"{key}: max |Δ| {delta}");
        }
        // Training moved B away from PEFT's zero initialisation, so the comparison is not vacuous.
        Assert.Contains(plain.Weights.Values, w => w.B.abs().max().item<float>() > 0);
    }

    [Fact]
    public void ManifestProblemsNameTheEntry()
    {
        var path = Path.Combine(dir, "bad.json");
        File.WriteAllText(path, "[{\"image\": \"missing.png\", \"caption\": \"x\"}, {\"image\": \"also-missing.png\", \"caption\": \"y\"}]");
        var e = Assert.Throws<MedGemmaException>(() => CaptionManifest.Read(path));
        Assert.Equal("ManifestImageNotFound", e.ErrorId);
        Assert.Contains("missing.png", e.Message);
        Assert.Contains("also-missing.png", e.Message);
        File.WriteAllText(path, "[{\"image\": \"a.png\"}]");
        e = Assert.Throws<MedGemmaException>(() => CaptionManifest.Read(path));
        Assert.Equal("BadManifestEntry", e.ErrorId);
        Assert.Equal($"{path}[0]", e.Target);
        File.WriteAllText(path, "{\"image\": \"a.png\"}");
        Assert.Equal("BadManifest", Assert.Throws<MedGemmaException>(() => CaptionManifest.Read(path)).ErrorId);
        Assert.Equal("ManifestNotFound", Assert.Throws<MedGemmaException>(() => CaptionManifest.Read(Path.Combine(dir, "none.json"))).ErrorId);
    }

    [Fact]
    public void BadOptionsAreRejectedBeforeAnyWork()
    {
        var e = Assert.Throws<MedGemmaException>(() => LoraTrainer.Train(dir, "train.json", null, new TrainingOptions { OutputPath = dir, BatchSize = 0 }));
        Assert.Equal("BadTrainingOption", e.ErrorId);
        Assert.Equal(nameof(TrainingOptions.BatchSize), e.Target);
    }

    sealed class SyncProgress(Action<TrainingProgress> onReport) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => onReport(value);
    }
}
