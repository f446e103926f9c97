using MedGemma.Engine.Imaging;

namespace MedGemma.Engine.Api;

/// <summary>Header-only image validation for datasets: cheap enough for thousands of files, catches the common breakage.</summary>
internal static class ImageCheck
{
    public static (int Width, int Height, string Format) Identify(string path)
    {
        try
        {
            var info = ImageProbe.Identify(path);
            return (info.Width, info.Height, info.Format);
        }
        catch (MedGemmaException) { throw; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "UnreadableImage", $"'{path}' cannot be read: {e.Message}", path, e);
        }
    }
}
