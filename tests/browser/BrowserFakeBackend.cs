// The stand-in model of the browser test and tests/CaptionServer.Tests.ps1, compiled with Add-Type: it decodes
// each upload with the engine (so a corrupt file fails as it would with the model) and describes the pixels.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using MedGemma.Engine;
using MedGemma.Engine.Imaging;
using MedGemma.Engine.Server;

public sealed class BrowserFakeBackend : ICaptionBackend
{
    /// <summary>Model time per request, to hold requests in the server's queue.</summary>
    public int DelayMilliseconds { get; set; }

    public IReadOnlyList<CaptionResult> Caption(IReadOnlyList<CaptionInput> images, CaptionSettings settings, CancellationToken cancellationToken)
    {
        if (DelayMilliseconds > 0) System.Threading.Tasks.Task.Delay(DelayMilliseconds).Wait();
        return images.Select(i =>
        {
            try
            {
                var img = Decode(i);
                return CaptionResult.Ok(i.Name, "A " + img.Width + "x" + img.Height + " test image; mean red " +
                    Enumerable.Range(0, img.Width * img.Height).Average(p => img.Pixels[3 * p]).ToString("F1") + ".", TimeSpan.FromMilliseconds(12));
            }
            catch (MedGemmaException e) { return CaptionResult.Failed(i.Name, e.ErrorId, e.Message); }
        }).ToList();
    }

    public RgbImage RenderPreview(CaptionInput image, CancellationToken cancellationToken) => Decode(image);

    public BackendStatus Status() => new BackendStatus("browser-test-fake", "cpu", null);

    public IReadOnlyList<string> Adapters() => new[] { "demo-adapter" };

    // The engine's own upload decoding (ImageLoader, DICOM window presets, pixel budget): only the caption is fake.
    static RgbImage Decode(CaptionInput input) => UploadDecoder.Decode(input, ImageLoadOptions.Default, CancellationToken.None);
}
