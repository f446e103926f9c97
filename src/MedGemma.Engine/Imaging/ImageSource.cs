namespace MedGemma.Engine.Imaging;

/// <summary>Opening image files and streams the same way for probing and loading.</summary>
internal static class ImageSource
{
    /// <summary>Opens <paramref name="path"/> for shared reading; a missing file or folder is NotFound.</summary>
    public static FileStream OpenFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImagePath", "The image path is empty.", path);
        if (Directory.Exists(path))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ImagePathIsFolder", $"'{path}' is a folder, not an image file.", path);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw ImageErrors.NotFound(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw ImageErrors.Corrupt(path, "the file cannot be opened: " + e.Message, e);
        }
    }

    /// <summary>
    /// A seekable stream whose position 0 is the image's first byte: the caller's stream when it already is one,
    /// otherwise a copy of the rest of it in memory.
    /// </summary>
    public static Stream Seekable(Stream stream, string source, out bool owned)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek && stream.Position == 0) { owned = false; return stream; }
        try
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            owned = true;
            return copy;
        }
        catch (Exception e) { throw ImageErrors.Wrap(e, source); }
    }

    /// <summary>Reads the first bytes (up to <see cref="ImageDecoders.HeaderLength"/>) and rewinds; empty input is InvalidData.</summary>
    public static byte[] ReadHeader(Stream s, string source)
    {
        var buf = new byte[ImageDecoders.HeaderLength];
        int n;
        try
        {
            s.Position = 0;
            n = s.ReadAtLeast(buf, buf.Length, false);
            s.Position = 0;
        }
        catch (Exception e) { throw ImageErrors.Wrap(e, source); }
        if (n == 0) throw ImageErrors.Corrupt(source, "the file is empty.");
        return n == buf.Length ? buf : buf[..n];
    }
}
