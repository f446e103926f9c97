namespace MedGemma.Engine.Imaging;

/// <summary>
/// What an image file's header says, read without decoding its pixels (<see cref="ImageProbe.Identify(string)"/>).
/// </summary>
/// <param name="Format">"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "DICOM", ...</param>
/// <param name="Width">Pixels per row.</param>
/// <param name="Height">Rows.</param>
/// <param name="BitDepth">Bits per sample (channel) as stored: 8 for ordinary images, 16 for 16-bit PNG/TIFF, 1/2/4 for packed PNG.</param>
/// <param name="ColorType">"Gray", "GrayAlpha", "Palette", "Rgb", "Rgba", "Cmyk", "YCbCr" (best effort per format; "Unknown" when the header does not say).</param>
/// <param name="FrameCount">Frames/pages (GIF, TIFF, DICOM multi-frame); 1 for single images.</param>
/// <param name="Source">The path or caller-chosen name the header was read from.</param>
public sealed record ImageInfo(string Format, int Width, int Height, int BitDepth, string ColorType, int FrameCount, string Source)
{
    /// <summary>Width × Height of one frame, as a long (a header can claim 100000×100000).</summary>
    public long PixelCount => (long)Width * Height;
}
