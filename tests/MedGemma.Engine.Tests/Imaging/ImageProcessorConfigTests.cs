using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Imaging;

public class ImageProcessorConfigTests
{
    [Fact]
    public void Reads_the_flat_preprocessor_config_medgemma_ships()
    {
        var c = ImageProcessorConfig.Load(Path.Combine(Fixtures.Root, "images", "preprocessor_896"));
        Assert.Equal((896, 896, PillowFilter.Bilinear, true, true, true), (c.Width, c.Height, c.Resample, c.DoResize, c.DoRescale, c.DoNormalize));
        Assert.Equal(0.00392156862745098, c.RescaleFactor);
        Assert.Equal([0.5, 0.5, 0.5], c.ImageMean);
        Assert.Equal([0.5, 0.5, 0.5], c.ImageStd);
        Assert.Null(c.ImageSeqLength);
    }

    [Fact]
    public void Reads_the_nested_processor_config_of_a_saved_model_folder()
    {
        var c = ImageProcessorConfig.Load(Path.Combine(Fixtures.Root, "tiny-medgemma-snapshot"));
        Assert.Equal((896, 896, 256), (c.Width, c.Height, c.ImageSeqLength));
        Assert.EndsWith("processor_config.json", c.SourcePath);
    }

    [Fact]
    public void Values_other_than_medgemmas_are_honoured()
    {
        using var t = new TestImages();
        File.WriteAllText(t.PathOf("preprocessor_config.json"),
            """{ "size": {"height": 32, "width": 48}, "resample": 3, "image_mean": [0.1, 0.2, 0.3], "image_std": 0.25, "do_normalize": true, "rescale_factor": 0.5 }""");
        var c = ImageProcessorConfig.Load(t.Dir);
        Assert.Equal((48, 32, PillowFilter.Bicubic, 0.5), (c.Width, c.Height, c.Resample, c.RescaleFactor));
        Assert.Equal([0.25, 0.25, 0.25], c.ImageStd);
        var x = new ImagePreprocessor(c).Preprocess(new RgbImage(1, 1, [10, 20, 30], "one pixel"));
        Assert.Equal(3 * 32 * 48, x.Length);
        Assert.Equal((10 * 0.5f - 0.1f) / 0.25f, x[0], 4);
        Assert.Equal((20 * 0.5f - 0.2f) / 0.25f, x[32 * 48], 4);
        Assert.Equal((30 * 0.5f - 0.3f) / 0.25f, x[2 * 32 * 48], 4);
    }

    [Fact]
    public void Missing_and_bad_configs_name_the_file()
    {
        using var t = new TestImages();
        var e = Assert.Throws<MedGemmaException>(() => ImageProcessorConfig.Load(t.Dir));
        Assert.Equal(MedGemmaErrorKind.NotFound, e.Kind);
        foreach (var bad in new[] { "{ not json", """{"size": "big"}""", """{"image_mean": [0.5, 0.5]}""", """{"image_std": [0.5, 0, 0.5]}""", "[1, 2]" })
        {
            var path = t.PathOf("preprocessor_config.json");
            File.WriteAllText(path, bad);
            e = Assert.Throws<MedGemmaException>(() => ImageProcessorConfig.Load(t.Dir));
            Assert.Equal((MedGemmaErrorKind.InvalidData, (object)path), (e.Kind, e.Target!));
        }
        File.WriteAllText(t.PathOf("preprocessor_config.json"), """{"do_pan_and_scan": true}""");
        Assert.Equal(MedGemmaErrorKind.NotSupported, Assert.Throws<MedGemmaException>(() => ImageProcessorConfig.Load(t.Dir)).Kind);
    }

    [Fact]
    public void Batch_is_the_concatenation_of_single_images()
    {
        var pre = new ImagePreprocessor(new ImageProcessorConfig { Width = 24, Height = 24 });
        var a = ImageLoader.Load(Path.Combine(Fixtures.Root, "images", "img_gray_300x240.png"));
        var b = ImageLoader.Load(Path.Combine(Fixtures.Root, "images", "img_rgb_500x380.png"));
        var batch = pre.PreprocessBatch([a, b, a]);
        Assert.Equal(3 * 3 * 24 * 24, batch.Length);
        Assert.Equal(pre.Preprocess(a), batch[..(3 * 24 * 24)]);
        Assert.Equal(pre.Preprocess(b), batch[(3 * 24 * 24)..(6 * 24 * 24)]);
        Assert.Empty(pre.PreprocessBatch([]));
        var noResize = new ImagePreprocessor(new ImageProcessorConfig { DoResize = false });
        Assert.Equal(MedGemmaErrorKind.InvalidArgument, Assert.Throws<MedGemmaException>(() => noResize.PreprocessBatch([a, b])).Kind);
    }
}
