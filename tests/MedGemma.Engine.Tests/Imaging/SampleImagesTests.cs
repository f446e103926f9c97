using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Imaging;

/// <summary>The synthetic demo images in data/images load, stay small, and each has exactly one caption.</summary>
public class SampleImagesTests
{
    [Fact]
    public void Every_sample_loads_and_has_one_caption()
    {
        var dir = Path.Combine(Fixtures.RepoRoot, "data", "images");
        var images = Directory.GetFiles(dir).Where(f => f.EndsWith(".png", StringComparison.Ordinal) || f.EndsWith(".jpg", StringComparison.Ordinal))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        var lines = File.ReadAllLines(Path.Combine(dir, "captions.csv"));
        Assert.Equal("image,caption", lines[0]);
        var captioned = lines.Skip(1).Select(l => l[..l.IndexOf(',')]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(images, captioned);
        Assert.InRange(images.Length, 6, 10);
        var pre = new ImagePreprocessor(new ImageProcessorConfig { Width = 56, Height = 56 });
        foreach (var name in images)
        {
            var path = Path.Combine(dir, name!);
            Assert.True(new FileInfo(path).Length < 100_000, name);
            var info = ImageProbe.Identify(path);
            Assert.InRange(Math.Max(info.Width, info.Height), 256, 512);
            var img = ImageLoader.Load(path);
            var x = pre.Preprocess(img);
            Assert.True(x.Max() - x.Min() > 0.5, $"{name} should not be flat after loading");
        }
    }
}
