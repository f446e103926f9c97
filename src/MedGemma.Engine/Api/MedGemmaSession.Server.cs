using MedGemma.Engine.Imaging;
using MedGemma.Engine.Server;

namespace MedGemma.Engine.Api;

/// <summary>The resident session as the caption server's backend (Start-CaptionServer -Model $session).</summary>
public sealed partial class MedGemmaSession : ICaptionBackend
{
    IReadOnlyList<Server.CaptionResult> ICaptionBackend.Caption(IReadOnlyList<CaptionInput> images, Server.CaptionSettings settings, CancellationToken cancellationToken) =>
        ((ICaptionBackend)this).Prepare(images, settings, cancellationToken)();

    // The uploads are decoded and resized here, outside the server's one-at-a-time section: while the model captions
    // one request, the next one's images are made ready.
    Func<IReadOnlyList<Server.CaptionResult>> ICaptionBackend.Prepare(IReadOnlyList<CaptionInput> images, Server.CaptionSettings settings, CancellationToken cancellationToken)
    {
        var ours = new CaptionSettings
        {
            Prompt = string.IsNullOrWhiteSpace(settings.Prompt) ? CaptionSettings.DefaultPrompt : settings.Prompt,
            Language = string.IsNullOrWhiteSpace(settings.Language) ? null : settings.Language,
            Adapter = ResolveAdapterName(settings.Adapter),
            MaxNewTokens = settings.MaxNewTokens,
        };
        var prepared = PrepareImages(images.Count, i => Decode(images[i], cancellationToken), cancellationToken);
        return () =>
        {
            var results = Generate(prepared, ours, cancellationToken, null);
            return results.Select((r, i) => r.Error != null
                ? Server.CaptionResult.Failed(images[i].Name, r.Error.ErrorId, r.Error.Message)
                : Server.CaptionResult.Ok(images[i].Name, r.Text!, TimeSpan.FromSeconds(r.Seconds))).ToList();
        };
    }

    RgbImage ICaptionBackend.RenderPreview(CaptionInput image, CancellationToken cancellationToken) => Decode(image, cancellationToken);

    BackendStatus ICaptionBackend.Status()
    {
        lock (_gate) return new BackendStatus(Name, Device, _lora?.ActiveAdapter, DecodeSteps);
    }

    IReadOnlyList<string> ICaptionBackend.Adapters() => Adapters.Select(a => a.Name).ToList();

    string? ResolveAdapterName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return null;
        var match = Adapters.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));
        return match?.Name ?? throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound", $"No adapter named '{name}' is loaded into {Name}.", name);
    }

    // The server's decoder: every window preset (the three-window MedGemma CT recipe too) and the pixel budget.
    static RgbImage Decode(CaptionInput input, CancellationToken cancellationToken) =>
        UploadDecoder.Decode(input, ImageLoadOptions.Default, cancellationToken);
}
