using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;

namespace MedGemma.Engine.Imaging;

/// <summary>
/// Reads an image's header — format, size, bit depth, frames — without decoding pixels, so datasets can be
/// validated and oversized files refused cheaply. Thread-safe.
/// </summary>
public static class ImageProbe
{
    /// <summary>Identifies the image file at <paramref name="path"/>.</summary>
    /// <exception cref="MedGemmaException">NotFound for a missing file; InvalidData for an empty, unknown or corrupt
    /// header; NotSupported for DICOM when no DICOM decoder is registered.</exception>
    public static ImageInfo Identify(string path)
    {
        using var stream = ImageSource.OpenFile(path);
        return Identify(stream, path);
    }

    /// <summary>Identifies the image in <paramref name="stream"/> (read from its current position); <paramref name="name"/> is used in errors.</summary>
    public static ImageInfo Identify(Stream stream, string name)
    {
        var s = ImageSource.Seekable(stream, name, out var owned);
        try { return Identify(s, ImageSource.ReadHeader(s, name), name, out _); }
        finally { if (owned) s.Dispose(); }
    }

    /// <summary>Identify on a seekable stream at 0 whose header was read; <paramref name="decoder"/> is the registered decoder that took it, if any.</summary>
    internal static ImageInfo Identify(Stream s, byte[] header, string name, out IImageDecoder? decoder)
    {
        decoder = ImageDecoders.Find(header);
        ImageInfo info;
        if (decoder != null)
        {
            try { info = decoder.Identify(s, name); }
            catch (Exception e) { throw ImageErrors.Wrap(e, name); }
        }
        else if (ImageDecoders.IsDicomPart10(header)) throw ImageErrors.NoDicomDecoder(name);
        else info = IdentifyWithImageSharp(s, name);
        if (info.Width <= 0 || info.Height <= 0)
            throw ImageErrors.Corrupt(name, $"the header declares an empty size {info.Width}x{info.Height}.");
        return info;
    }

    static ImageInfo IdentifyWithImageSharp(Stream s, string name)
    {
        IImageInfo? raw;
        SixLabors.ImageSharp.Formats.IImageFormat? format;
        try
        {
            s.Position = 0;
            raw = Image.Identify(ImageSharpSetup.Configuration, s, out format);
        }
        catch (UnknownImageFormatException) { throw ImageErrors.UnknownFormat(name); }
        catch (Exception e) { throw ImageErrors.Wrap(e, name); }
        if (raw == null || format == null) throw ImageErrors.UnknownFormat(name);

        var fmt = format.Name.ToUpperInvariant();
        int bitDepth = 8, frames = 1;
        var color = "Unknown";
        var bpp = raw.PixelType?.BitsPerPixel ?? 0;
        try
        {
            switch (format)
            {
                case PngFormat:
                    var png = raw.Metadata.GetPngMetadata();
                    bitDepth = (int)(png.BitDepth ?? PngBitDepth.Bit8);
                    color = png.ColorType switch
                    {
                        PngColorType.Grayscale => "Gray",
                        PngColorType.GrayscaleWithAlpha => "GrayAlpha",
                        PngColorType.Palette => "Palette",
                        PngColorType.Rgb => "Rgb",
                        PngColorType.RgbWithAlpha => "Rgba",
                        _ => "Unknown",
                    };
                    break;
                case JpegFormat:
                    color = raw.Metadata.GetJpegMetadata().ColorType switch
                    {
                        JpegColorType.Luminance => "Gray",
                        JpegColorType.Rgb => "Rgb",
                        JpegColorType.Cmyk => "Cmyk",
                        null => bpp == 8 ? "Gray" : "Unknown",
                        _ => "YCbCr",
                    };
                    break;
                case BmpFormat:
                    bpp = (int)(raw.Metadata.GetBmpMetadata().BitsPerPixel);
                    color = bpp <= 8 ? "Palette" : bpp == 32 ? "Rgba" : "Rgb";
                    bitDepth = bpp <= 8 ? bpp : 8;
                    break;
                case GifFormat:
                    color = "Palette";
                    frames = HeaderScan.GifFrameCount(s);
                    break;
                case TiffFormat:
                    if (HeaderScan.Tiff(s) is { } t)
                    {
                        frames = t.Pages;
                        bitDepth = t.BitsPerSample > 0 ? t.BitsPerSample : 8;
                        color = t.Photometric switch
                        {
                            0 or 1 => t.SamplesPerPixel >= 2 ? "GrayAlpha" : "Gray",
                            2 => t.SamplesPerPixel >= 4 ? "Rgba" : "Rgb",
                            3 => "Palette",
                            5 => "Cmyk",
                            6 => "YCbCr",
                            _ => "Unknown",
                        };
                    }
                    break;
                default:
                    color = bpp switch { 8 => "Gray", 24 => "Rgb", 32 => "Rgba", _ => "Unknown" };
                    break;
            }
        }
        catch (Exception e) { throw ImageErrors.Wrap(e, name); }
        return new ImageInfo(fmt, raw.Width, raw.Height, bitDepth, color, frames, name);
    }
}
