namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>
/// One decoded frame: stored pixel values (after bit masking and sign extension, before the
/// modality LUT), samples interleaved per pixel, top row first.
/// </summary>
public sealed class DicomFrame
{
    public int Width { get; }
    public int Height { get; }
    public int SamplesPerPixel { get; }
    /// <summary>Width * Height * SamplesPerPixel stored values, interleaved.</summary>
    public int[] Samples { get; }
    /// <summary>Photometric interpretation of <see cref="Samples"/>: the file's, except where the
    /// decoder converted colour (a JPEG YCbCr frame decoded to RGB says "RGB").</summary>
    public string Photometric { get; }

    public DicomFrame(int width, int height, int samplesPerPixel, int[] samples, string photometric)
    {
        if (samples.Length != (long)width * height * samplesPerPixel)
            throw new ArgumentException($"Expected {(long)width * height * samplesPerPixel} samples, got {samples.Length}.", nameof(samples));
        Width = width; Height = height; SamplesPerPixel = samplesPerPixel; Samples = samples; Photometric = photometric;
    }
}
