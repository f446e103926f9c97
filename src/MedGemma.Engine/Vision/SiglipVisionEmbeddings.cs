using MedGemma.Engine.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Vision;

/// <summary>Non-overlapping patch convolution plus a learned position embedding per patch.</summary>
public sealed class SiglipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    internal Conv2d patch_embedding;
    internal Embedding position_embedding;
    readonly SiglipVisionConfig config;

    public SiglipVisionEmbeddings(SiglipVisionConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(SiglipVisionEmbeddings))
    {
        config = c;
        patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize, device: device, dtype: dtype);
        position_embedding = nn.Embedding(c.NumPatches, c.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var w = patch_embedding.weight!;
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != config.NumChannels || pixelValues.shape[2] != config.ImageSize || pixelValues.shape[3] != config.ImageSize)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "PixelValuesShape",
                $"pixel_values must be [N, {config.NumChannels}, {config.ImageSize}, {config.ImageSize}], got [{string.Join(", ", pixelValues.shape)}].", "pixel_values");
        var patches = patch_embedding.call(pixelValues.to(w.dtype));        // (N, C, P, P)
        var embeddings = patches.flatten(2).transpose(1, 2);               // (N, P*P, C)
        embeddings = embeddings + position_embedding.weight!.unsqueeze(0);
        return embeddings.MoveToOuterDisposeScope();
    }
}
