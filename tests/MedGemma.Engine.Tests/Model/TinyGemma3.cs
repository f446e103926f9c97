using MedGemma.Engine.Config;
using MedGemma.Engine.IO;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>The tiny-gemma3 fixture as training tests use it: the float32 model on the CPU and its golden tensors.</summary>
internal static class TinyGemma3
{
    public static string Folder => Fixtures.Folder("tiny-gemma3");

    public static Gemma3ForConditionalGeneration LoadModel()
    {
        var dir = Folder;
        var model = new Gemma3ForConditionalGeneration(Gemma3Config.Load(dir));
        CheckpointLoader.Load(model, Path.Combine(dir, "model.safetensors"), torch.CPU, ScalarType.Float32);
        return model;
    }

    public static Dictionary<string, Tensor> Golden() => GoldenFile.Read(Path.Combine(Folder, "golden.safetensors"));

    /// <summary>The reference trainer's inputs: golden ids, pixels, mask, token types and labels.</summary>
    public static Gemma3Inputs TrainingInputs(IReadOnlyDictionary<string, Tensor> g) => new()
    {
        InputIds = g["input_ids"], PixelValues = g["pixel_values"], AttentionMask = g["attention_mask"],
        TokenTypeIds = g["token_type_ids"], Labels = g["labels"],
    };
}
