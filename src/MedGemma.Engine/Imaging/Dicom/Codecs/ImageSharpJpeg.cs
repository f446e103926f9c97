using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Imaging.Dicom.Codecs;

/// <summary>8-bit baseline/extended JPEG frames through ImageSharp (which converts YCbCr to RGB).</summary>
internal static class ImageSharpJpeg
{
    public static DicomFrame Decode(ReadOnlySpan<byte> data, IReadOnlyList<JpegComponent> components, string source)
    {
        try
        {
            if (components.Count == 1)
            {
                using var gray = Image.Load<L8>(data);
                var g = new int[gray.Width * gray.Height];
                gray.ProcessPixelRows(rows =>
                {
                    for (int y = 0; y < rows.Height; y++)
                    {
                        var row = rows.GetRowSpan(y);
                        for (int x = 0; x < row.Length; x++) g[y * rows.Width + x] = row[x].PackedValue;
                    }
                });
                return new DicomFrame(gray.Width, gray.Height, 1, g, "");
            }
            using var rgb = Image.Load<Rgb24>(data);
            var s = new int[rgb.Width * rgb.Height * 3];
            rgb.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < row.Length; x++)
                    {
                        int o = (y * rows.Width + x) * 3;
                        s[o] = row[x].R; s[o + 1] = row[x].G; s[o + 2] = row[x].B;
                    }
                }
            });
            return new DicomFrame(rgb.Width, rgb.Height, 3, s, "RGB");
        }
        catch (Exception e) when (e is not MedGemmaException and not OutOfMemoryException and not OperationCanceledException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DicomCorruptJpeg", $"{source}: a JPEG frame cannot be decoded: {e.Message}", source, e);
        }
    }
}
