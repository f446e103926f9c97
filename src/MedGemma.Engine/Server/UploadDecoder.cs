using MedGemma.Engine.Imaging;
using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Server;

/// <summary>
/// Decodes an uploaded file (in memory; never written to disk) the way captioning sees it: ordinary images
/// through <see cref="ImageLoader"/>, DICOM through the chosen <see cref="WindowPresets">window preset</see>.
/// Failures are <see cref="MedGemmaException"/>s naming the upload.
/// </summary>
public static class UploadDecoder
{
    public static RgbImage Decode(CaptionInput input, ImageLoadOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        var preset = WindowPresets.Find(input.Window);
        using var stream = new MemoryStream(input.Content, writable: false);
        // Window presets are in Hounsfield/modality units: they mean nothing for PNG/JPEG, which load as they are.
        if (preset is null || !DicomFile.IsDicom(input.Content)) return ImageLoader.Load(stream, input.Name, options, cancellationToken);
        if (preset.Windows.Count == 1)
        {
            var w = preset.Windows[0];
            return ImageLoader.Load(stream, input.Name, options with { WindowCenter = w.Center, WindowWidth = w.Width }, cancellationToken);
        }
        // The three-window CT recipe has no ImageLoadOptions equivalent: read the DICOM directly, after the same
        // header-first pixel budget check the loader makes.
        var info = ImageProbe.Identify(stream, input.Name);
        if (info.PixelCount > options.MaxPixels)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "ImageTooLarge",
                $"Image '{input.Name}' is {info.Width}x{info.Height}, over the limit of {options.MaxPixels:N0} pixels (ImageLoadOptions.MaxPixels).", input.Name);
        cancellationToken.ThrowIfCancellationRequested();
        stream.Position = 0;
        try
        {
            var dicom = DicomReader.Read(stream, input.Name);
            return DicomRenderer.ToRgb(dicom, options.Frame, new DicomRenderOptions { CtHounsfieldRgb = true });
        }
        catch (Exception e) when (e is not (MedGemmaException or OperationCanceledException))
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CorruptImage", $"Cannot read image '{input.Name}': {e.Message}", input.Name, e);
        }
    }
}
