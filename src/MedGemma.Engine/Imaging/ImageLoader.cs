using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace MedGemma.Engine.Imaging;

/// <summary>
/// Decodes an image file (PNG, JPEG, BMP, GIF, TIFF, WebP, or DICOM through a registered <see cref="IImageDecoder"/>)
/// into an 8-bit <see cref="RgbImage"/>, converting like Pillow's <c>convert("RGB")</c>:
/// gray is replicated to R=G=B, palettes are expanded, alpha is dropped without compositing (as Pillow does),
/// 16-bit RGB keeps the high byte of each sample (Pillow's "RGB;16B"), GIF gives its first frame.
/// <para>Deliberate difference from Pillow: more-than-8-bit grayscale (16-bit PNG/TIFF) is mapped to 8 bits through
/// the image's min–max range, or <see cref="ImageLoadOptions.WindowCenter"/>/<see cref="ImageLoadOptions.WindowWidth"/>;
/// Pillow would clip every value above 255 to white.</para>
/// <para>The header is read first: images over <see cref="ImageLoadOptions.MaxPixels"/> are refused before any pixel is
/// decoded, and truncated PNG/JPEG files are refused (ImageSharp would pad them silently). Every failure is a
/// <see cref="MedGemmaException"/> naming the file. Thread-safe: no shared mutable state.</para>
/// </summary>
public static class ImageLoader
{
    /// <summary>Loads the image file at <paramref name="path"/>.</summary>
    public static RgbImage Load(string path, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        (options ?? ImageLoadOptions.Default).Validate();
        using var stream = ImageSource.OpenFile(path);
        return LoadSeekable(stream, path, options ?? ImageLoadOptions.Default, cancellationToken);
    }

    /// <summary>Loads the image in <paramref name="stream"/> from its current position; <paramref name="name"/> names it in errors and <see cref="RgbImage.Source"/>.</summary>
    public static RgbImage Load(Stream stream, string name, ImageLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        (options ?? ImageLoadOptions.Default).Validate();
        var s = ImageSource.Seekable(stream, name, out var owned);
        try { return LoadSeekable(s, name, options ?? ImageLoadOptions.Default, cancellationToken); }
        finally { if (owned) s.Dispose(); }
    }

    static RgbImage LoadSeekable(Stream s, string name, ImageLoadOptions options, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var header = ImageSource.ReadHeader(s, name);
        var info = ImageProbe.Identify(s, header, name, out var decoder);
        if ((options.Frame ?? 0) >= info.FrameCount)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ImageFrameOutOfRange",
                $"Image '{name}' has {info.FrameCount} frame(s); frame {(options.Frame ?? 0)} was requested.", name);
        // ImageSharp decodes every TIFF page and every GIF frame up to the one asked for.
        long framesDecoded = info.Format switch { "TIFF" => info.FrameCount, "GIF" => (options.Frame ?? 0) + 1, _ => 1 };
        if (info.PixelCount * framesDecoded > options.MaxPixels) throw ImageErrors.TooLarge(info, options.MaxPixels);
        ct.ThrowIfCancellationRequested();
        s.Position = 0;
        try
        {
            if (decoder != null) return decoder.Decode(s, name, options, ct);
            ImageIntegrity.Check(s, info.Format, name);
            return DecodeWithImageSharp(s, name, info, options);
        }
        catch (NotSupportedException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedImageVariant",
                $"Image '{name}' uses a {info.Format} variant that cannot be decoded: {e.Message}", name, e);
        }
        catch (Exception e) { throw ImageErrors.Wrap(e, name); }
    }

    static RgbImage DecodeWithImageSharp(Stream s, string name, ImageInfo info, ImageLoadOptions options)
    {
        var meta = new Dictionary<string, string>
        {
            ["Format"] = info.Format,
            ["BitDepth"] = info.BitDepth.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ColorType"] = info.ColorType,
        };
        var pixels = new byte[checked(info.Width * info.Height * 3)];
        if (info.BitDepth > 8 && info.ColorType is "Gray" or "GrayAlpha")
        {
            using var img = Decode<L16>(s, info, options);
            var frame = Frame(img, (options.Frame ?? 0));
            var gray = new ushort[frame.Width * frame.Height];
            frame.CopyPixelDataTo(MemoryMarshal.Cast<ushort, L16>(gray.AsSpan()));
            if (gray.Length * 3 != pixels.Length) pixels = new byte[gray.Length * 3];
            meta["Window"] = GrayWindow.ToRgb(gray, pixels, options);
            return new RgbImage(frame.Width, frame.Height, pixels, name, meta);
        }
        if (info.BitDepth > 8)
        {
            // Pillow reads 16-bit color PNG as "RGB;16B"/"RGBA;16B": the high byte of each sample, no rounding.
            using var img = Decode<Rgba64>(s, info, options);
            var frame = Frame(img, (options.Frame ?? 0));
            var wide = new Rgba64[frame.Width * frame.Height];
            frame.CopyPixelDataTo(wide);
            if (wide.Length * 3 != pixels.Length) pixels = new byte[wide.Length * 3];
            for (var i = 0; i < wide.Length; i++)
            {
                pixels[3 * i] = (byte)(wide[i].R >> 8);
                pixels[3 * i + 1] = (byte)(wide[i].G >> 8);
                pixels[3 * i + 2] = (byte)(wide[i].B >> 8);
            }
            return new RgbImage(frame.Width, frame.Height, pixels, name, meta);
        }
        using (var img = Decode<Rgb24>(s, info, options))
        {
            var frame = Frame(img, (options.Frame ?? 0));
            if (frame.Width * frame.Height * 3 != pixels.Length) pixels = new byte[frame.Width * frame.Height * 3];
            frame.CopyPixelDataTo(MemoryMarshal.Cast<byte, Rgb24>(pixels.AsSpan()));
            return new RgbImage(frame.Width, frame.Height, pixels, name, meta);
        }
    }

    static Image<TPixel> Decode<TPixel>(Stream s, ImageInfo info, ImageLoadOptions options) where TPixel : unmanaged, IPixel<TPixel>
    {
        s.Position = 0;
        var img = info.Format == "GIF"
            ? Image.Load<TPixel>(ImageSharpSetup.Configuration, s, new GifDecoder { MaxFrames = (uint)(options.Frame ?? 0) + 1 })
            : Image.Load<TPixel>(ImageSharpSetup.Configuration, s);
        if (options.ApplyExifOrientation && img.Metadata.ExifProfile != null) img.Mutate(x => x.AutoOrient());
        return img;
    }

    static ImageFrame<TPixel> Frame<TPixel>(Image<TPixel> img, int index) where TPixel : unmanaged, IPixel<TPixel> =>
        index < img.Frames.Count ? img.Frames[index]
            : throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ImageFrameOutOfRange",
                $"The image has {img.Frames.Count} frame(s); frame {index} was requested.");
}
