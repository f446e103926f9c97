namespace MedGemma.Engine.Imaging;

/// <summary>How <see cref="ImageLoader"/> reads an image. Immutable; share one instance across threads.</summary>
public sealed record ImageLoadOptions
{
    /// <summary>The default: 200 megapixels, min–max window for 16-bit gray, EXIF orientation applied.</summary>
    public static ImageLoadOptions Default { get; } = new();

    /// <summary>
    /// Refuse images with more pixels than this (width × height × frames decoded), checked from the header before any
    /// pixel is decoded. Default 200,000,000.
    /// </summary>
    public long MaxPixels { get; init; } = 200_000_000;

    /// <summary>
    /// Window centre for mapping more-than-8-bit grayscale (16-bit PNG/TIFF, DICOM) to 8 bits. With
    /// <see cref="WindowWidth"/>, values in [centre − width/2, centre + width/2] map linearly to 0–255 and are clamped
    /// outside. Null (default): each image's own minimum–maximum range is used.
    /// </summary>
    public double? WindowCenter { get; init; }

    /// <summary>Window width paired with <see cref="WindowCenter"/>; must be positive when given.</summary>
    public double? WindowWidth { get; init; }

    /// <summary>
    /// Which frame of a multi-frame image to decode (GIF, TIFF pages, DICOM multi-frame). Null (default): the first
    /// frame of a GIF/TIFF, the middle frame of a DICOM series (the slice a reader would look at first).
    /// </summary>
    public int? Frame { get; init; }

    /// <summary>
    /// For CT DICOM without a caller window: MedGemma 1.5's recipe, three Hounsfield windows as R, G, B
    /// (−1024..1024, −135..215, 0..80). Ignored for other images.
    /// </summary>
    public bool CtHounsfieldRgb { get; init; }

    /// <summary>
    /// Rotate/flip by the EXIF Orientation tag (as transformers' <c>load_image</c> does with <c>exif_transpose</c>).
    /// Default true.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;

    /// <summary>Throws a <see cref="MedGemmaException"/> naming the first invalid option (the loader checks this too).</summary>
    public void Validate()
    {
        if (MaxPixels <= 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImageOption", $"MaxPixels must be positive, got {MaxPixels}.", nameof(MaxPixels));
        if (Frame is < 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImageOption", $"Frame must be 0 or more, got {Frame}.", nameof(Frame));
        if (WindowCenter.HasValue != WindowWidth.HasValue)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImageOption", "WindowCenter and WindowWidth must be given together.", nameof(WindowWidth));
        if (WindowWidth is <= 0 or double.NaN)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImageOption", $"WindowWidth must be positive, got {WindowWidth}.", nameof(WindowWidth));
    }
}
