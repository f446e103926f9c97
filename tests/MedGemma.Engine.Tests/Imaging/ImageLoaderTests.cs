using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Tests.Imaging;

public class ImageLoaderTests
{
    static string Fixture(string name) => Path.Combine(Fixtures.Root, "images", name);

    [Fact]
    public void Gray_png_is_replicated_to_rgb()
    {
        var img = ImageLoader.Load(Fixture("img_gray_300x240.png"));
        Assert.Equal((300, 240), (img.Width, img.Height));
        using var reference = Image.Load<L8>(Fixture("img_gray_300x240.png"));
        for (var i = 0; i < 300 * 240; i += 97)
        {
            var l = reference[i % 300, i / 300].PackedValue;
            Assert.Equal((l, l, l), (img.Pixels[3 * i], img.Pixels[3 * i + 1], img.Pixels[3 * i + 2]));
        }
        Assert.Equal("PNG", img.Metadata["Format"]);
    }

    [Fact]
    public void Rgba_drops_alpha_without_compositing_and_palette_expands()
    {
        using var t = new TestImages();
        using (var rgba = new Image<Rgba32>(4, 2))
        {
            rgba[0, 0] = new Rgba32(200, 100, 50, 0);   // fully transparent: Pillow keeps the color
            rgba[1, 0] = new Rgba32(10, 20, 30, 128);
            var img = ImageLoader.Load(t.Save("a.png", rgba));
            Assert.Equal(new byte[] { 200, 100, 50, 10, 20, 30 }, img.Pixels[..6]);
        }
        using (var pal = TestImages.Pattern(8, 8))
        {
            var path = t.PathOf("p.png");
            pal.Save(path, new PngEncoder { ColorType = PngColorType.Palette });
            Assert.Equal("Palette", ImageProbe.Identify(path).ColorType);
            using var expected = Image.Load<Rgb24>(path);
            var img = ImageLoader.Load(path);
            Assert.Equal(expected[3, 5], new Rgb24(img.Pixels[3 * (5 * 8 + 3)], img.Pixels[3 * (5 * 8 + 3) + 1], img.Pixels[3 * (5 * 8 + 3) + 2]));
        }
    }

    [Fact]
    public void Sixteen_bit_gray_uses_min_max_or_the_given_window()
    {
        using var t = new TestImages();
        using var g = new Image<L16>(3, 1);
        g[0, 0] = new L16(1000); g[1, 0] = new L16(2000); g[2, 0] = new L16(3000);
        var path = t.Save("g16.png", g);
        var img = ImageLoader.Load(path);
        Assert.Equal(new byte[] { 0, 0, 0, 128, 128, 128, 255, 255, 255 }, img.Pixels);
        var win = ImageLoader.Load(path, new ImageLoadOptions { WindowCenter = 1500, WindowWidth = 1000 });
        // Window [1000, 2000]: 1000 → 0, 2000 → 255, 3000 clamps to 255.
        Assert.Equal(new byte[] { 0, 255, 255 }, new[] { win.Pixels[0], win.Pixels[3], win.Pixels[6] });
        Assert.Equal("center 1500, width 1000", win.Metadata["Window"]);
    }


    [Fact]
    public void Sixteen_bit_gray_tiff_pages()
    {
        using var t = new TestImages();
        var path = t.Write("two.tiff", TestImages.Gray16Tiff(2, 1, [100, 300], [5000, 60000]));
        Assert.Equal(new byte[] { 0, 0, 0, 255, 255, 255 }, ImageLoader.Load(path).Pixels);
        var p1 = ImageLoader.Load(path, new ImageLoadOptions { Frame = 1 });
        Assert.Equal(new byte[] { 0, 255 }, new[] { p1.Pixels[0], p1.Pixels[3] });
        // The budget counts every page ImageSharp decodes.
        Assert.Throws<MedGemmaException>(() => ImageLoader.Load(path, new ImageLoadOptions { MaxPixels = 3 }));
    }

    [Fact]
    public void Over_budget_is_refused_before_decoding()
    {
        using var t = new TestImages();
        var huge = t.Write("huge.png", TestImages.PngHeaderOnly(100_000, 100_000));
        var e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(huge));
        Assert.Equal((MedGemmaErrorKind.InvalidData, "ImageTooLarge", (object)huge), (e.Kind, e.ErrorId, e.Target!));
        var small = ImageLoader.Load(Fixture("img_rgb_500x380.png"), new ImageLoadOptions { MaxPixels = 500 * 380 });
        Assert.Equal(500, small.Width);
        e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(Fixture("img_rgb_500x380.png"), new ImageLoadOptions { MaxPixels = 500 * 380 - 1 }));
        Assert.Equal("ImageTooLarge", e.ErrorId);
    }

    [Theory]
    [InlineData("img_rgb_500x380.png")]
    [InlineData("img_rgb_500x380.jpg")]
    [InlineData("img_gray_300x240.png")]
    public void Truncated_files_are_invalid_data(string fixture)
    {
        using var t = new TestImages();
        var bytes = File.ReadAllBytes(Fixture(fixture));
        foreach (var keep in new[] { bytes.Length / 2, bytes.Length - 2, 40 })
        {
            var path = t.Write("cut-" + keep + Path.GetExtension(fixture), bytes[..keep]);
            var e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(path));
            Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
            Assert.Equal(path, e.Target);
        }
    }

    [Fact]
    public void Missing_empty_and_random_files()
    {
        using var t = new TestImages();
        var e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(t.PathOf("missing.png")));
        Assert.Equal(MedGemmaErrorKind.NotFound, e.Kind);
        foreach (var (name, bytes) in new[] { ("zero.png", Array.Empty<byte>()), ("rnd.bin", ImageProbeTests.RandomBytes(10_000)) })
        {
            var path = t.Write(name, bytes);
            e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(path));
            Assert.Equal((MedGemmaErrorKind.InvalidData, (object)path), (e.Kind, e.Target!));
        }
        // A valid PNG header followed by garbage where the compressed data should be.
        var png = File.ReadAllBytes(Fixture("img_rgb_500x380.png"));
        var garbled = png.ToArray();
        new Random(3).NextBytes(garbled.AsSpan(100, png.Length - 120));
        var gp = t.Write("garbled.png", garbled);
        e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(gp));
        Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
    }

    [Fact]
    public void Stream_loading_matches_file_loading_and_is_thread_safe()
    {
        var path = Fixture("img_rgb_500x380.jpg");
        var fromFile = ImageLoader.Load(path);
        using var nonSeekable = new NonSeekable(File.ReadAllBytes(path));
        var fromStream = ImageLoader.Load(nonSeekable, "upload.jpg");
        Assert.Equal(fromFile.Pixels, fromStream.Pixels);
        Assert.Equal("upload.jpg", fromStream.Source);
        var results = new byte[8][];
        Parallel.For(0, 8, i => results[i] = ImageLoader.Load(path).Pixels);
        Assert.All(results, r => Assert.Equal(fromFile.Pixels, r));
    }

    [Fact]
    public void Gif_first_frame_and_frame_option()
    {
        using var t = new TestImages();
        using var gif = new Image<Rgb24>(4, 4, new Rgb24(255, 0, 0));
        using var second = new Image<Rgb24>(4, 4, new Rgb24(0, 0, 255));
        gif.Frames.AddFrame(second.Frames.RootFrame);
        var path = t.Save("two.gif", gif);
        Assert.Equal(new byte[] { 255, 0, 0 }, ImageLoader.Load(path).Pixels[..3]);
        Assert.Equal(new byte[] { 0, 0, 255 }, ImageLoader.Load(path, new ImageLoadOptions { Frame = 1 }).Pixels[..3]);
        var e = Assert.Throws<MedGemmaException>(() => ImageLoader.Load(path, new ImageLoadOptions { Frame = 2 }));
        Assert.Equal(MedGemmaErrorKind.InvalidArgument, e.Kind);
    }

    sealed class NonSeekable(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
