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
        var effective = preset is not null && DicomFile.IsDicom(input.Content) ? preset.ApplyTo(options) : options;
        return ImageLoader.Load(stream, input.Name, effective, cancellationToken);
    }
}
