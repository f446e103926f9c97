namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>
/// Plugs the DICOM reader into <see cref="ImageLoader"/> / <see cref="ImageProbe"/> (found by
/// <see cref="ImageDecoders"/> through reflection). The loader's window maps to a caller window;
/// without one the file's window (else the frame's min-max) is used.
/// </summary>
public sealed class DicomImageDecoder : IImageDecoder
{
    public string Format => "DICOM";

    public bool CanDecode(ReadOnlySpan<byte> header) => DicomFile.IsDicom(header);

    public ImageInfo Identify(Stream stream, string source)
    {
        var image = DicomReader.Read(stream, source);
        if (!image.HasPixelData) throw DicomReader.Invalid(source, "NoPixelData", "has no Pixel Data (7FE0,0010)");
        string color = image.Photometric switch
        {
            "MONOCHROME1" or "MONOCHROME2" => "Gray",
            "PALETTE COLOR" => "Palette",
            "RGB" => "Rgb",
            var p when p.StartsWith("YBR", StringComparison.Ordinal) => "YCbCr",
            _ => "Unknown",
        };
        return new ImageInfo(Format, image.Columns, image.Rows, image.BitsStored, color, image.NumberOfFrames, source);
    }

    public RgbImage Decode(Stream stream, string source, ImageLoadOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var image = DicomReader.Read(stream, source);
        var frame = options.Frame ?? image.DefaultFrameIndex;
        if (frame >= image.NumberOfFrames)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "DicomFrameOutOfRange", $"{source}: frame {frame} does not exist ({image.NumberOfFrames} frame(s)).", source);
        var render = new DicomRenderOptions
        {
            Window = options.WindowCenter is { } c && options.WindowWidth is { } w ? new DicomWindow(c, w) : null,
            CtHounsfieldRgb = options.CtHounsfieldRgb,
        };
        cancellationToken.ThrowIfCancellationRequested();
        return DicomRenderer.ToRgb(image, frame, render);
    }
}
