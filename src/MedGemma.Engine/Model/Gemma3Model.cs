using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.Text;
using MedGemma.Engine.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>Vision tower + projector + text decoder; image features replace the image-token embeddings.</summary>
public sealed class Gemma3Model : nn.Module
{
    internal SiglipVisionTransformer vision_tower;
    internal Gemma3MultiModalProjector multi_modal_projector;
    internal Gemma3TextModel language_model;
    readonly Gemma3Config config;

    public Gemma3Model(Gemma3Config c, Device? device = null, ScalarType? dtype = null) : base(nameof(Gemma3Model))
    {
        config = c;
        vision_tower = new SiglipVisionTransformer(c.Vision, device, dtype);
        multi_modal_projector = new Gemma3MultiModalProjector(c, device, dtype);
        language_model = new Gemma3TextModel(c.Text, device, dtype);
        RegisterComponents();
    }

    public Gemma3TextModel LanguageModel => language_model;

    /// <summary>(images, 3, S, S) -> (images, mm_tokens_per_image, text hidden).</summary>
    public Tensor GetImageFeatures(Tensor pixelValues)
    {
        using var scope = torch.NewDisposeScope();
        return multi_modal_projector.call(vision_tower.call(pixelValues)).MoveToOuterDisposeScope();
    }

    /// <summary>Returns the final hidden states (B, n, C) and the image features if pixel values were given.</summary>
    public (Tensor Hidden, Tensor? ImageFeatures) forward(Gemma3Inputs inputs)
    {
        using var scope = torch.NewDisposeScope();
        var ids = inputs.InputIds;
        if (ids.dim() != 2)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InputIdsShape", $"input_ids must be [batch, length], got [{string.Join(", ", ids.shape)}].", "input_ids");
        // Only needed with an image, or to keep an out-of-vocabulary image id a valid index: not per decoded token.
        var imageIdOutside = config.ImageTokenId >= config.Text.VocabSize;
        var isImage = inputs.PixelValues is not null || imageIdOutside ? ids.eq(config.ImageTokenId) : null;
        // An image token id outside the vocabulary would index out of range; its embedding is replaced anyway.
        var llmIds = imageIdOutside ? ids.masked_fill(isImage!, 0) : ids;
        var embeds = language_model.EmbedTokens.call(llmIds);

        Tensor? features = null;
        if (inputs.PixelValues is not null)
        {
            // Read before the vision tower is queued, so the host does not wait for the tower on a GPU.
            var tokens = isImage!.sum().item<long>();
            features = GetImageFeatures(inputs.PixelValues).to(embeds.dtype);
            var expected = features.shape[0] * features.shape[1];
            if (tokens != expected)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ImageTokenCount",
                    $"Image features and image tokens do not match: {tokens} image tokens (id {config.ImageTokenId}) in input_ids, {expected} features ({features.shape[0]} images x {features.shape[1]}).", "input_ids");
            embeds = embeds.masked_scatter(isImage!.unsqueeze(-1).expand_as(embeds), features);
        }

        Tensor? groups = null;
        var cache = inputs.Cache;
        if (inputs.TokenTypeIds is not null && (cache is null || cache.Length == 0 || inputs.PixelValues is not null))
            groups = AttentionMasks.ImageGroups(inputs.TokenTypeIds);

        var hidden = language_model.forward(embeds, inputs.AttentionMask, inputs.PositionIds, groups, cache);
        return (hidden.MoveToOuterDisposeScope(), features?.MoveToOuterDisposeScope());
    }
}
