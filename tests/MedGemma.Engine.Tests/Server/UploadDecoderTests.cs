using MedGemma.Engine.Imaging;
using MedGemma.Engine.Imaging.Dicom;
using MedGemma.Engine.Server;
using MedGemma.Engine.Tests.Imaging.Dicom;
using static MedGemma.Engine.Tests.Server.ServerTestSupport;

namespace MedGemma.Engine.Tests.Server;

public class UploadDecoderTests
{
    const string CtSample = "CT-MONO2-16-ankle.dcm";

    static CaptionInput Upload(string path, string? window) => new(Path.GetFileName(path), File.ReadAllBytes(path), window);

    [Fact]
    public void OrdinaryImagesIgnoreTheDicomWindow()
    {
        var png = Png(5, 4, 10, 200, 30);
        var plain = ImageLoader.Load(new MemoryStream(png), "a.png");
        var windowed = UploadDecoder.Decode(new CaptionInput("a.png", png, "lung"), ImageLoadOptions.Default, default);
        Assert.Equal(plain.Pixels, windowed.Pixels);
    }

    [Theory]
    [InlineData("lung", -600, 1500)]
    [InlineData("bone", 400, 1800)]
    [InlineData("brain", 40, 80)]
    public void ASingleWindowPresetRendersTheDicomThroughThatWindow(string preset, double center, double width)
    {
        var path = DicomSamples.Path(CtSample);
        var expected = ImageLoader.Load(path, new ImageLoadOptions { WindowCenter = center, WindowWidth = width });
        var actual = UploadDecoder.Decode(Upload(path, preset), ImageLoadOptions.Default, default);
        Assert.Equal(expected.Pixels, actual.Pixels);
        var fileWindow = UploadDecoder.Decode(Upload(path, null), ImageLoadOptions.Default, default);
        Assert.NotEqual(fileWindow.Pixels, actual.Pixels);
    }

    [Fact]
    public void TheMedGemmaPresetGivesThreeDifferentChannelsForCt()
    {
        var path = DicomSamples.Path(CtSample);
        var expected = DicomRenderer.ToRgb(DicomReader.Read(path), 0, new DicomRenderOptions { CtHounsfieldRgb = true });
        var actual = UploadDecoder.Decode(Upload(path, "medgemma-rgb"), ImageLoadOptions.Default, default);
        Assert.Equal(expected.Pixels, actual.Pixels);
        var channelsDiffer = Enumerable.Range(0, actual.Width * actual.Height).Any(i => actual.Pixels[3 * i] != actual.Pixels[3 * i + 1] || actual.Pixels[3 * i + 1] != actual.Pixels[3 * i + 2]);
        Assert.True(channelsDiffer);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("lung")]
    [InlineData("medgemma-rgb")]
    public void ThePixelBudgetAppliesToEveryPath(string? preset)
    {
        var path = DicomSamples.Path(CtSample);
        var e = Assert.Throws<MedGemmaException>(() => UploadDecoder.Decode(Upload(path, preset), new ImageLoadOptions { MaxPixels = 1000 }, default));
        Assert.Equal("ImageTooLarge", e.ErrorId);
        Assert.Equal(CtSample, e.Target);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("medgemma-rgb")]
    public void ATruncatedDicomIsInvalidDataNamingTheUpload(string? preset)
    {
        var bytes = File.ReadAllBytes(DicomSamples.Path(CtSample));
        var input = new CaptionInput("cut.dcm", bytes[..(bytes.Length / 3)], preset);
        var e = Assert.Throws<MedGemmaException>(() => UploadDecoder.Decode(input, ImageLoadOptions.Default, default));
        Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
        Assert.Contains("cut.dcm", e.Message);
    }
}
