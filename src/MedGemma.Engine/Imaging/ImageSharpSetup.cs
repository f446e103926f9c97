using SixLabors.ImageSharp;

namespace MedGemma.Engine.Imaging;

/// <summary>The one ImageSharp configuration the engine uses (thread-safe to share; decoders are stateless).</summary>
internal static class ImageSharpSetup
{
    public static Configuration Configuration { get; } = Configuration.Default.Clone();
}
