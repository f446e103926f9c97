using MedGemma.Engine.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Vision;

/// <summary>The encoder's layer list, named so its keys read encoder.layers.N.</summary>
public sealed class SiglipEncoder : nn.Module<Tensor, Tensor>
{
    internal ModuleList<SiglipEncoderLayer> layers;

    public SiglipEncoder(SiglipVisionConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(SiglipEncoder))
    {
        layers = new ModuleList<SiglipEncoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new SiglipEncoderLayer(c, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <summary>Recompute each layer in backward instead of keeping its activations (train mode with gradients only).</summary>
    public bool GradientCheckpointing { get; set; }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var checkpoint = GradientCheckpointing && training && torch.is_grad_enabled();
        // The checkpointed function only back-propagates when its input needs a gradient; with a frozen patch
        // embedding (LoRA) it would not, so make the input a leaf that does.
        if (checkpoint && !x.requires_grad) x = x.detach().requires_grad_(true);
        foreach (var layer in layers) x = checkpoint ? SiglipEncoderLayerCheckpoint.apply(x, layer) : layer.call(x);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>SigLIP vision tower without pooling head: pixel_values (N, 3, S, S) -> last hidden state (N, patches, C).</summary>
public sealed class SiglipVisionTransformer : nn.Module<Tensor, Tensor>
{
    internal SiglipVisionEmbeddings embeddings;
    internal SiglipEncoder encoder;
    internal LayerNorm post_layernorm;

    public SiglipVisionTransformer(SiglipVisionConfig c, Device? device = null, ScalarType? dtype = null) : base(nameof(SiglipVisionTransformer))
    {
        embeddings = new SiglipVisionEmbeddings(c, device, dtype);
        encoder = new SiglipEncoder(c, device, dtype);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Gradient checkpointing of the encoder layers (see <see cref="SiglipEncoder.GradientCheckpointing"/>).</summary>
    public bool GradientCheckpointing
    {
        get => encoder.GradientCheckpointing;
        set => encoder.GradientCheckpointing = value;
    }

    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        var h = encoder.call(embeddings.call(pixelValues));
        return post_layernorm.call(h).MoveToOuterDisposeScope();
    }
}
