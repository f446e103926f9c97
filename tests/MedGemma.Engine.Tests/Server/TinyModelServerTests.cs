using System.Net;
using System.Text.Json;
using MedGemma.Engine.Api;
using MedGemma.Engine.Server;
using MedGemma.Engine.Tests.Support;
using static MedGemma.Engine.Tests.Server.ServerTestSupport;
using ApiSettings = MedGemma.Engine.Api.CaptionSettings;

namespace MedGemma.Engine.Tests.Server;

/// <summary>The tiny MedGemma snapshot (real vocabulary, 896×896 images), loaded once for the class.</summary>
public sealed class TinySessionFixture : IDisposable
{
    public MedGemmaSession Session { get; } = MedGemmaSession.Load(TokenizerAssets.SnapshotFolderWithTokenizer(), new SessionOptions { Device = "cpu" });
    public void Dispose() => Session.Dispose();
}

/// <summary>
/// The caption server in front of the real engine: what the API returns for uploads must be exactly what the
/// session produces for the same image files directly.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class TinyModelServerTests(TinySessionFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<TinySessionFixture>
{
    const string Prompt = "Describe this medical image in two sentences.";
    const int Tokens = 6;
    static readonly string Png = Path.Combine(Fixtures.Root, "images", "img_gray_300x240.png");
    static readonly string Jpg = Path.Combine(Fixtures.Root, "images", "img_rgb_500x380.jpg");

    ICaptionBackend Backend => (ICaptionBackend)(object)fixture.Session;

    string[] Direct(string[] paths, int tokens = Tokens) =>
        fixture.Session.Caption(paths.Select(p => new CaptionRequest(p)).ToList(), new ApiSettings { Prompt = Prompt, MaxNewTokens = tokens })
            .Select(o => o.Result!.Caption).ToArray();

    static MultipartFormDataContent Upload(string[] paths, int tokens = Tokens) =>
        Form(paths.Select(p => (Path.GetFileName(p), File.ReadAllBytes(p))), ("prompt", Prompt), ("maxNewTokens", tokens.ToString()));

    [Fact]
    public async Task SeveralImagesInOneRequestGetTheSessionsCaptionsAndACorruptFileItsOwnError()
    {
        var expected = Direct([Png, Jpg]);
        using var server = CaptionServer.Start(Backend, new CaptionServerOptions { Port = 0 });
        using var client = Client(server);
        var corrupt = Path.Combine(Path.GetTempPath(), $"medgemma-corrupt-{Guid.NewGuid():N}.png");
        File.WriteAllBytes(corrupt, File.ReadAllBytes(Png)[..300]);
        try
        {
            var response = await client.PostAsync("api/caption", Upload([Png, corrupt, Jpg]));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var results = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("results").EnumerateArray().ToList();
            Assert.Equal(expected[0], results[0].GetProperty("caption").GetString());
            Assert.Equal(JsonValueKind.Null, results[1].GetProperty("caption").ValueKind);
            Assert.Contains(Path.GetFileName(corrupt), results[1].GetProperty("error").GetString());
            Assert.Equal(expected[1], results[2].GetProperty("caption").GetString());
            Assert.False(string.IsNullOrWhiteSpace(expected[0]));
        }
        finally { File.Delete(corrupt); }
    }

    [Fact]
    public async Task TwentyConcurrentRequestsAreAnsweredCorrectly()
    {
        // Two new tokens keep 20 sequential model runs (one resident model, one request at a time) to seconds on a CPU.
        var expected = new Dictionary<string, string> { [Png] = Direct([Png], 2)[0], [Jpg] = Direct([Jpg], 2)[0] };
        using var server = CaptionServer.Start(Backend, new CaptionServerOptions { Port = 0 });
        using var client = Client(server);
        client.Timeout = TimeSpan.FromMinutes(5);
        var images = Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? Png : Jpg).ToList();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var responses = await Task.WhenAll(images.Select(p => client.PostAsync("api/caption", Upload([p], 2))));
        output.WriteLine($"20 concurrent requests answered in {watch.Elapsed.TotalSeconds:F1} s");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, responses[i].StatusCode);
            var r = JsonDocument.Parse(await responses[i].Content.ReadAsStringAsync()).RootElement.GetProperty("results")[0];
            Assert.Equal(expected[images[i]], r.GetProperty("caption").GetString());
        }
    }

    [Theory]
    [InlineData("medgemma-rgb")]
    [InlineData("lung")]
    public async Task DicomPreviewUsesTheChosenWindowPreset(string preset)
    {
        var path = Imaging.Dicom.DicomSamples.Path("CT-MONO2-16-ankle.dcm");
        var expected = UploadDecoder.Decode(new CaptionInput("ct.dcm", File.ReadAllBytes(path), preset), MedGemma.Engine.Imaging.ImageLoadOptions.Default, default);
        using var server = CaptionServer.Start(Backend, new CaptionServerOptions { Port = 0 });
        using var client = Client(server);
        var response = await client.PostAsync("api/preview", Form([("ct.dcm", File.ReadAllBytes(path))], ("window", preset)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var png = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(await response.Content.ReadAsByteArrayAsync());
        var pixels = new byte[png.Width * png.Height * 3];
        png.CopyPixelDataTo(pixels);
        Assert.Equal(expected.Pixels, pixels);
    }

    [Fact]
    public async Task StatusNamesTheModelDeviceAndHowDecodingRan()
    {
        using var server = CaptionServer.Start(Backend, new CaptionServerOptions { Port = 0 });
        using var client = Client(server);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("api/caption", Upload([Png], tokens: 3))).StatusCode);
        var status = JsonDocument.Parse(await client.GetStringAsync("api/status")).RootElement;
        Assert.Equal(fixture.Session.Name, status.GetProperty("model").GetString());
        Assert.Equal("cpu", status.GetProperty("device").GetString());
        // On a GPU: "CUDA graph replays", or device steps and why graphs were not used.
        Assert.Equal("host steps", status.GetProperty("decodeSteps").GetString());
    }
}
