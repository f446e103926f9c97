namespace MedGemma.Engine.Imaging;

/// <summary>
/// A decoded image as the model sees it before resizing: 8-bit RGB, row-major, interleaved (R,G,B per pixel).
/// Every source (PNG/JPEG/..., DICOM) ends up here, so preprocessing has one input type.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    /// <summary>Width * Height * 3 bytes, R,G,B interleaved, top row first.</summary>
    public byte[] Pixels { get; }
    /// <summary>Where it came from (a path or a caller-chosen name); used in error messages.</summary>
    public string Source { get; }
    /// <summary>Non-identifying facts about the source (format, bit depth, DICOM Modality, window used...).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public RgbImage(int width, int height, byte[] pixels, string source, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"Image size {width}x{height} is not positive.");
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"Expected {width * height * 3} bytes for {width}x{height} RGB, got {pixels.Length}.", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
        Source = source;
        Metadata = metadata ?? new Dictionary<string, string>();
    }
}
