namespace MedGemma.Engine.Imaging;

/// <summary>
/// A decoder for a format that ImageSharp does not read (DICOM). Implementations live elsewhere in the engine
/// (Imaging/Dicom) and are found by <see cref="ImageDecoders"/>, so Imaging does not depend on their code.
/// Implementations must be thread-safe: the caption server calls them concurrently.
/// </summary>
public interface IImageDecoder
{
    /// <summary>The format name reported in <see cref="ImageInfo.Format"/>, e.g. "DICOM".</summary>
    string Format { get; }

    /// <summary>
    /// True when the file's first bytes belong to this format. <paramref name="header"/> holds the first
    /// <see cref="ImageDecoders.HeaderLength"/> bytes (fewer for shorter files).
    /// </summary>
    bool CanDecode(ReadOnlySpan<byte> header);

    /// <summary>Reads the header only (size, bit depth, frames); must not decode pixel data.</summary>
    /// <param name="stream">Seekable, positioned at the start of the file.</param>
    /// <param name="source">Path or name to put in <see cref="ImageInfo.Source"/> and in errors.</param>
    ImageInfo Identify(Stream stream, string source);

    /// <summary>
    /// Decodes to 8-bit RGB. The pixel budget was already checked against <see cref="Identify"/>.
    /// Throw <see cref="MedGemmaException"/> (InvalidData naming <paramref name="source"/>) for bad content;
    /// any other exception is wrapped as InvalidData by the caller.
    /// </summary>
    RgbImage Decode(Stream stream, string source, ImageLoadOptions options, CancellationToken cancellationToken);
}
