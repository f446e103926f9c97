using MedGemma.Engine.Imaging;
using MedGemma.Engine.Server;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Tests.Server;

/// <summary>
/// A backend that really decodes each upload (so corrupt files fail like they would with the model)
/// and "captions" it with facts about the decoded pixels, so tests can check every client got the
/// captions of its own images.
/// </summary>
sealed class FakeCaptionBackend : ICaptionBackend, IDisposable
{
    int _running;
    public int MaxConcurrentCaptions;
    public int CaptionCalls;
    public bool Disposed;
    /// <summary>When set, Caption blocks until it is signalled (to hold requests in the queue).</summary>
    public ManualResetEventSlim? Gate;
    public CaptionSettings? LastSettings;
    public string? LastWindow;
    /// <summary>When set, Caption throws it (a failure of the whole batch).</summary>
    public Exception? Throw;

    public IReadOnlyList<CaptionResult> Caption(IReadOnlyList<CaptionInput> images, CaptionSettings settings, CancellationToken cancellationToken)
    {
        var now = Interlocked.Increment(ref _running);
        InterlockedMax(ref MaxConcurrentCaptions, now);
        Interlocked.Increment(ref CaptionCalls);
        try
        {
            Gate?.Wait(cancellationToken);
            if (Throw is not null) throw Throw;
            LastSettings = settings;
            LastWindow = images.FirstOrDefault()?.Window;
            return images.Select(i =>
            {
                try
                {
                    var img = Decode(i);
                    return CaptionResult.Ok(i.Name, Describe(i.Name, img, settings), TimeSpan.FromMilliseconds(5));
                }
                catch (MedGemmaException e) { return CaptionResult.Failed(i.Name, e.ErrorId, e.Message); }
            }).ToList();
        }
        finally { Interlocked.Decrement(ref _running); }
    }

    public static string Describe(string name, RgbImage img, CaptionSettings s) =>
        $"{name} is {img.Width}x{img.Height} with first pixel {img.Pixels[0]},{img.Pixels[1]},{img.Pixels[2]}; prompt '{s.Prompt}'";

    public RgbImage RenderPreview(CaptionInput image, CancellationToken cancellationToken)
    {
        LastWindow = image.Window;
        return Decode(image);
    }

    public BackendStatus Status() => new("fake-model", "cpu", "base");

    public IReadOnlyList<string> Adapters() => ["base", "chest-xray"];

    public void Dispose() => Disposed = true;

    static RgbImage Decode(CaptionInput input)
    {
        try
        {
            using var img = Image.Load<Rgb24>(input.Content);
            var pixels = new byte[img.Width * img.Height * 3];
            img.CopyPixelDataTo(pixels);
            return new RgbImage(img.Width, img.Height, pixels, input.Name);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CorruptImage", $"'{input.Name}' is not a readable image: {e.Message}", input.Name, e);
        }
    }

    static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }
}
