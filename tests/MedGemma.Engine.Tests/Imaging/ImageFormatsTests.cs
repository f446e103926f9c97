using MedGemma.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Tests.Imaging;

/// <summary>Formats and variants beyond the reference fixtures: WebP, BMP, 16-bit RGB, EXIF orientation, header-only PNG.</summary>
public class ImageFormatsTests
{
    [Fact]
    public void Lossless_webp_and_bmp_round_trip_exactly()
    {
        using var t = new TestImages();
        using var src = TestImages.Pattern(33, 21);
        var expected = new byte[33 * 21 * 3];
        src.CopyPixelDataTo(expected);
        var webp = t.PathOf("p.webp");
        src.Save(webp, new WebpEncoder { FileFormat = WebpFileFormatType.Lossless });
        Assert.Equal("WEBP", ImageProbe.Identify(webp).Format);
        Assert.Equal(expected, ImageLoader.Load(webp).Pixels);
        Assert.Equal(expected, ImageLoader.Load(t.Save("p.bmp", src)).Pixels);
    }

    [Fact]
    public void Sixteen_bit_rgb_keeps_the_high_byte_like_pillow()
    {
        using var t = new TestImages();
        using var img = new Image<Rgb48>(2, 1);
        img[0, 0] = new Rgb48(0x12FF, 0x3480, 0xFFFF);
        img[1, 0] = new Rgb48(0x0080, 0x0000, 0x7F7F);
        var path = t.Save("rgb16.png", img);
        Assert.Equal((16, "Rgb"), (ImageProbe.Identify(path).BitDepth, ImageProbe.Identify(path).ColorType));
        Assert.Equal(new byte[] { 0x12, 0x34, 0xFF, 0x00, 0x00, 0x7F }, ImageLoader.Load(path).Pixels);
    }

    [Fact]
    public void Exif_orientation_is_applied_unless_turned_off()
    {
        using var t = new TestImages();
        using var img = TestImages.Pattern(40, 20);
        img.Metadata.ExifProfile = new ExifProfile();
        img.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6); // rotate 90° clockwise to display
        var path = t.PathOf("rot.jpg");
        img.Save(path, new JpegEncoder { Quality = 95 });
        var shown = ImageLoader.Load(path);
        Assert.Equal((20, 40), (shown.Width, shown.Height));
        var raw = ImageLoader.Load(path, new ImageLoadOptions { ApplyExifOrientation = false });
        Assert.Equal((40, 20), (raw.Width, raw.Height));
    }

    [Fact]
    public void Png_without_pixel_data_is_invalid_not_a_blank_image()
    {
        using var t = new TestImages();
        var path = t.Write("empty-idat.png", TestImages.PngHeaderOnly(64, 48));
        var e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(path));
        Assert.Equal((MedGemmaErrorKind.InvalidData, (object)path), (e.Kind, e.Target!));
    }

    [Fact]
    public void Invalid_options_are_invalid_argument()
    {
        foreach (var o in new[]
                 {
                     new ImageLoadOptions { MaxPixels = 0 },
                     new ImageLoadOptions { Frame = -1 },
                     new ImageLoadOptions { WindowCenter = 10 },
                     new ImageLoadOptions { WindowCenter = 10, WindowWidth = 0 },
                 })
        {
            var e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load("unused.png", o));
            Assert.Equal(MedGemmaErrorKind.InvalidArgument, e.Kind);
        }
    }
}
