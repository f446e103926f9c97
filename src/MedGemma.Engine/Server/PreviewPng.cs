using MedGemma.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace MedGemma.Engine.Server;

/// <summary>Encodes a decoded image as a PNG for the browser, shrunk so a preview stays small.</summary>
static class PreviewPng
{
    public static byte[] Encode(RgbImage image, int maxSide)
    {
        using var img = Image.LoadPixelData<Rgb24>(image.Pixels, image.Width, image.Height);
        var longest = Math.Max(image.Width, image.Height);
        if (longest > maxSide)
        {
            var scale = (double)maxSide / longest;
            img.Mutate(x => x.Resize(Math.Max(1, (int)Math.Round(image.Width * scale)), Math.Max(1, (int)Math.Round(image.Height * scale))));
        }
        using var output = new MemoryStream();
        // Strip metadata: the PNG carries pixels only.
        img.Metadata.ExifProfile = null;
        img.SaveAsPng(output);
        return output.ToArray();
    }
}
