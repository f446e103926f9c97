using SixLabors.ImageSharp;

namespace MedGemma.Engine.Api;

/// <summary>Header-only image validation for datasets: cheap enough for thousands of files, catches the common breakage.</summary>
internal static class ImageCheck
{
    public static (int Width, int Height, string Format) Identify(string path)
    {
        if (IsDicom(path)) return (0, 0, "DICOM");
        try
        {
            var info = Image.Identify(path, out var format);
            if (info == null || format == null)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "UnknownImageFormat", $"'{path}' is not an image format we can read.", path);
            if (info.Width <= 0 || info.Height <= 0)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CorruptImage", $"'{path}' has an invalid size {info.Width}x{info.Height}.", path);
            return (info.Width, info.Height, format.Name);
        }
        catch (MedGemmaException) { throw; }
        catch (Exception e) when (e is ImageFormatException or InvalidImageContentException or IOException or NotSupportedException or UnknownImageFormatException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CorruptImage", $"'{path}' cannot be read as an image: {e.Message}", path, e);
        }
    }

    static bool IsDicom(string path)
    {
        using var f = File.OpenRead(path);
        if (f.Length < 132) return false;
        Span<byte> magic = stackalloc byte[4];
        f.Seek(128, SeekOrigin.Begin);
        return f.Read(magic) == 4 && magic.SequenceEqual("DICM"u8);
    }
}
