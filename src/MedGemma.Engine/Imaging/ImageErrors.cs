namespace MedGemma.Engine.Imaging;

/// <summary>The image failures, in one place so every path reports them alike (ErrorId, Kind, Target = the file).</summary>
internal static class ImageErrors
{
    public static MedGemmaException NotFound(string source) =>
        new(MedGemmaErrorKind.NotFound, "ImageNotFound", $"Image file not found: '{source}'.", source);

    public static MedGemmaException Corrupt(string source, string why, Exception? inner = null) =>
        new(MedGemmaErrorKind.InvalidData, "CorruptImage", $"Cannot read image '{source}': {why}", source, inner);

    public static MedGemmaException UnknownFormat(string source) =>
        new(MedGemmaErrorKind.InvalidData, "UnknownImageFormat",
            $"'{source}' is not an image in a supported format (PNG, JPEG, BMP, GIF, TIFF, WebP, DICOM).", source);

    public static MedGemmaException TooLarge(ImageInfo info, long maxPixels) =>
        new(MedGemmaErrorKind.InvalidData, "ImageTooLarge",
            $"Image '{info.Source}' is {info.Width}x{info.Height}" + (info.FrameCount > 1 ? $" x {info.FrameCount} frames" : "") +
            $", over the limit of {maxPixels:N0} pixels (ImageLoadOptions.MaxPixels).", info.Source);

    public static MedGemmaException NoDicomDecoder(string source) =>
        new(MedGemmaErrorKind.NotSupported, "DicomDecoderUnavailable",
            $"'{source}' is a DICOM file, but no DICOM decoder is registered.", source);

    /// <summary>Maps an exception thrown while reading <paramref name="source"/> onto a MedGemmaException; cancellation passes through.</summary>
    public static Exception Wrap(Exception e, string source) => e switch
    {
        MedGemmaException or OperationCanceledException => e,
        FileNotFoundException or DirectoryNotFoundException => NotFound(source),
        OutOfMemoryException => new MedGemmaException(MedGemmaErrorKind.ResourceUnavailable, "ImageOutOfMemory",
            $"Out of memory while decoding '{source}'.", source, e),
        _ => Corrupt(source, e.Message, e),
    };
}
