using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Tests.Imaging;

public class ImageProbeTests
{
    static string Fixture(string name) => Path.Combine(Fixtures.Root, "images", name);

    [Fact]
    public void Identifies_fixture_png_and_jpeg()
    {
        var gray = ImageProbe.Identify(Fixture("img_gray_300x240.png"));
        Assert.Equal(("PNG", 300, 240, 8, "Gray", 1), (gray.Format, gray.Width, gray.Height, gray.BitDepth, gray.ColorType, gray.FrameCount));
        var jpg = ImageProbe.Identify(Fixture("img_rgb_500x380.jpg"));
        Assert.Equal(("JPEG", 500, 380, 8), (jpg.Format, jpg.Width, jpg.Height, jpg.BitDepth));
        Assert.NotEqual("Gray", jpg.ColorType);
        var rgb = ImageProbe.Identify(Fixture("img_rgb_500x380.png"));
        Assert.Equal(("PNG", "Rgb"), (rgb.Format, rgb.ColorType));
    }

    [Fact]
    public void Reports_16_bit_gray_tiff_bmp_and_gif_frames()
    {
        using var t = new TestImages();
        using (var img = new Image<L16>(40, 30)) Assert.Equal((16, "Gray"), Probe(t.Save("g16.png", img)));
        var tiff = ImageProbe.Identify(t.Write("g16.tiff", TestImages.Gray16Tiff(4, 3, new ushort[12], new ushort[12])));
        Assert.Equal(("TIFF", 4, 3, 16, "Gray", 2), (tiff.Format, tiff.Width, tiff.Height, tiff.BitDepth, tiff.ColorType, tiff.FrameCount));
        using (var img = TestImages.Pattern(20, 10)) Assert.Equal((8, "Rgb"), Probe(t.Save("p.tiff", img)));
        using (var img = TestImages.Pattern(20, 10))
        {
            var info = ImageProbe.Identify(t.Save("p.bmp", img));
            Assert.Equal(("BMP", 20, 10), (info.Format, info.Width, info.Height));
        }
        using (var gif = TestImages.Pattern(16, 12))
        {
            gif.Frames.AddFrame(TestImages.Pattern(16, 12, 2).Frames.RootFrame);
            gif.Frames.AddFrame(TestImages.Pattern(16, 12, 3).Frames.RootFrame);
            var path = t.PathOf("anim.gif");
            gif.Save(path, new GifEncoder());
            var info = ImageProbe.Identify(path);
            Assert.Equal(("GIF", 16, 12, 3, "Palette"), (info.Format, info.Width, info.Height, info.FrameCount, info.ColorType));
        }
    }

    static (int, string) Probe(string path)
    {
        var i = ImageProbe.Identify(path);
        return (i.BitDepth, i.ColorType);
    }

    [Fact]
    public void Reads_a_huge_declared_size_from_the_header_only()
    {
        using var t = new TestImages();
        var info = ImageProbe.Identify(t.Write("huge.png", TestImages.PngHeaderOnly(100_000, 100_000)));
        Assert.Equal((100_000, 100_000, 10_000_000_000L), (info.Width, info.Height, info.PixelCount));
    }

    [Fact]
    public void Bad_files_are_clear_errors_naming_the_file()
    {
        using var t = new TestImages();
        var missing = t.PathOf("nope.png");
        var e = Assert.Throws<MedGemmaException>(() => ImageProbe.Identify(missing));
        Assert.Equal((MedGemmaErrorKind.NotFound, (object)missing), (e.Kind, e.Target!));

        foreach (var (name, bytes) in new[]
                 {
                     ("empty.png", Array.Empty<byte>()),
                     ("random.jpg", RandomBytes(5000)),
                     ("text.png", "hello, not an image"u8.ToArray()),
                 })
        {
            var path = t.Write(name, bytes);
            var ex = Assert.Throws<MedGemmaException>(() => ImageProbe.Identify(path));
            Assert.Equal(MedGemmaErrorKind.InvalidData, ex.Kind);
            Assert.Equal(path, ex.Target);
            Assert.Contains(path, ex.Message);
        }
    }

    [Fact]
    public void Dicom_preamble_goes_to_the_registered_decoder_or_is_not_supported()
    {
        var bytes = new byte[400];
        "DICM"u8.CopyTo(bytes.AsSpan(128));
        var decoder = ImageDecoders.Find(bytes);
        using var t = new TestImages();
        var path = t.Write("x.dcm", bytes);
        if (decoder == null)
        {
            var e = Assert.Throws<MedGemmaException>(() => ImageProbe.Identify(path));
            Assert.Equal((MedGemmaErrorKind.NotSupported, "DicomDecoderUnavailable"), (e.Kind, e.ErrorId));
        }
        else
        {
            Assert.Equal("DICOM", decoder.Format);
            // A preamble with no data elements is not a valid DICOM image: the decoder must say so, not crash.
            var e = Assert.Throws<MedGemmaException>(() => ImageProbe.Identify(path));
            Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
        }
    }

    [Fact]
    public void Registered_decoders_take_files_they_claim()
    {
        ImageDecoders.Register(new FakeDecoder());
        using var t = new TestImages();
        var path = t.Write("a.fake", "MGFAKE-7x5"u8.ToArray());
        var info = ImageProbe.Identify(path);
        Assert.Equal(("MGFAKE", 7, 5), (info.Format, info.Width, info.Height));
        var img = ImageLoader.Load(path);
        Assert.Equal((7, 5, (byte)42), (img.Width, img.Height, img.Pixels[0]));
    }

    /// <summary>Claims files starting "MGFAKE"; not public, so discovery never registers it by itself.</summary>
    sealed class FakeDecoder : IImageDecoder
    {
        public string Format => "MGFAKE";
        public bool CanDecode(ReadOnlySpan<byte> header) => header.StartsWith("MGFAKE"u8);
        public ImageInfo Identify(Stream stream, string source) => new("MGFAKE", 7, 5, 8, "Gray", 1, source);
        public RgbImage Decode(Stream stream, string source, ImageLoadOptions options, CancellationToken cancellationToken) =>
            new(7, 5, Enumerable.Repeat((byte)42, 7 * 5 * 3).ToArray(), source);
    }

    internal static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        new Random(7).NextBytes(b);
        return b;
    }
}
