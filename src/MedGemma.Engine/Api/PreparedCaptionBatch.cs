namespace MedGemma.Engine.Api;

/// <summary>
/// A caption batch whose images were read and preprocessed on the host (<see cref="MedGemmaSession.PrepareCaptions"/>),
/// ready for <see cref="MedGemmaSession.Caption(PreparedCaptionBatch, CancellationToken, IProgress{int})"/>. It holds
/// the batch's pixels (3·896·896 floats, ~9.6 MB, per readable image) until it is generated or dropped.
/// </summary>
public sealed class PreparedCaptionBatch
{
    internal PreparedCaptionBatch(MedGemmaSession session, IReadOnlyList<CaptionRequest> requests, CaptionSettings settings, PreparedImages images)
    {
        Session = session;
        Requests = requests;
        Settings = settings;
        Images = images;
    }

    internal MedGemmaSession Session { get; }
    internal PreparedImages Images { get; }
    public IReadOnlyList<CaptionRequest> Requests { get; }
    public CaptionSettings Settings { get; }
}

/// <summary>Readable images' indices in their batch, their pixels in that order, and each unreadable image's error (null where readable).</summary>
internal sealed record PreparedImages(int[] Readable, float[] Pixels, MedGemmaException?[] Errors);
