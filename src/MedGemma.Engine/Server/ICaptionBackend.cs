using MedGemma.Engine.Imaging;

namespace MedGemma.Engine.Server;

/// <summary>
/// What the caption server needs from a model. The server serializes <see cref="Caption"/> calls and the work
/// <see cref="Prepare"/> returns (one resident model, no concurrent GPU use); <see cref="Prepare"/> itself,
/// <see cref="RenderPreview"/>, <see cref="Status"/> and <see cref="Adapters"/> may be called concurrently with them and with each other.
/// </summary>
public interface ICaptionBackend
{
    /// <summary>
    /// Captions every input and returns one result per input, in input order. A bad input (corrupt
    /// file, unsupported format, over the pixel budget) gets an error in its own result; the others
    /// still run. Throws only for failures of the whole batch (unknown adapter, out of memory, cancelled).
    /// </summary>
    IReadOnlyList<CaptionResult> Caption(IReadOnlyList<CaptionInput> images, CaptionSettings settings, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="Caption"/> in two halves: the host work now (decoding the uploads; it may run while the model captions
    /// another request), the model work returned, for the server to run when the model is free. The default does all
    /// of it in the returned work. May throw what <see cref="Caption"/> throws for the whole batch.
    /// </summary>
    Func<IReadOnlyList<CaptionResult>> Prepare(IReadOnlyList<CaptionInput> images, CaptionSettings settings, CancellationToken cancellationToken) =>
        () => Caption(images, settings, cancellationToken);

    /// <summary>Decodes one upload as the model would see it (DICOM through <see cref="CaptionInput.Window"/>), for the page's preview.</summary>
    RgbImage RenderPreview(CaptionInput image, CancellationToken cancellationToken);

    /// <summary>The model, device and adapter in use.</summary>
    BackendStatus Status();

    /// <summary>Names of the adapters the caller may choose (those imported into the session).</summary>
    IReadOnlyList<string> Adapters();
}

/// <summary>One uploaded file. <see cref="Name"/> is the client's file name, used only to label results.</summary>
/// <param name="Window">A <see cref="WindowPresets"/> id for DICOM images; null = the file's own window.</param>
public sealed record CaptionInput(string Name, byte[] Content, string? Window = null);

/// <param name="Prompt">The user instruction; null = the model's default caption prompt.</param>
/// <param name="Language">Language of the caption (e.g. "English", "de"); null = the model's default.</param>
/// <param name="Adapter">An adapter name from <see cref="ICaptionBackend.Adapters"/>; null = the session's active one.</param>
/// <param name="MaxNewTokens">Upper bound on generated tokens per caption.</param>
public sealed record CaptionSettings(string? Prompt, string? Language, string? Adapter, int MaxNewTokens);

/// <summary>Either <see cref="Caption"/> or <see cref="Error"/> is set.</summary>
/// <param name="ErrorId">A stable id such as "CorruptImage" (from <see cref="MedGemmaException.ErrorId"/>).</param>
/// <param name="Elapsed">Model time spent on this image (its share of a batch).</param>
public sealed record CaptionResult(string Name, string? Caption, string? Error, string? ErrorId, TimeSpan Elapsed)
{
    public static CaptionResult Ok(string name, string caption, TimeSpan elapsed) => new(name, caption, null, null, elapsed);
    public static CaptionResult Failed(string name, string errorId, string error) => new(name, null, error, errorId, TimeSpan.Zero);
}

/// <param name="Model">A display name for the model (folder name or model id; never a patient detail).</param>
/// <param name="Device">"cpu", "cuda:0"...</param>
/// <param name="Adapter">The active adapter, null when none.</param>
/// <param name="DecodeSteps">How the last caption's decode steps ran (e.g. "CUDA graph replays"); null before the first or when unknown.</param>
public sealed record BackendStatus(string Model, string Device, string? Adapter, string? DecodeSteps = null);
