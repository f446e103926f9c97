using System.Net;
using System.Text.Json;
using MedGemma.Engine.Server;
using static MedGemma.Engine.Tests.Server.ServerTestSupport;

namespace MedGemma.Engine.Tests.Server;

public class CaptionServerApiTests
{
    static JsonElement Json(HttpResponseMessage r) => JsonDocument.Parse(r.Content.ReadAsStringAsync().Result).RootElement;

    [Fact]
    public async Task CaptionsSeveralImagesInOneRequestInOrder()
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend);
        using var client = Client(server);
        var images = Enumerable.Range(1, 3).Select(i => ($"img{i}.png", Png(i + 4, i + 2, (byte)(10 * i), (byte)(20 * i), (byte)(30 * i)))).ToList();

        var response = await client.PostAsync("api/caption", Form(images, ("prompt", "Describe it"), ("maxNewTokens", "17"), ("adapter", "chest-xray"), ("language", "German")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = Json(response).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(3, results.Count);
        for (var i = 1; i <= 3; i++)
        {
            var r = results[i - 1];
            Assert.Equal(i - 1, r.GetProperty("index").GetInt32());
            Assert.Equal($"img{i}.png", r.GetProperty("name").GetString());
            Assert.Equal(JsonValueKind.Null, r.GetProperty("error").ValueKind);
            Assert.Contains($"img{i}.png is {i + 4}x{i + 2} with first pixel {10 * i},{20 * i},{30 * i}", r.GetProperty("caption").GetString());
            Assert.True(r.GetProperty("seconds").GetDouble() > 0);
        }
        Assert.Equal(new CaptionSettings("Describe it", "German", "chest-xray", 17), backend.LastSettings);
        Assert.Equal("chest-xray", Json(response).GetProperty("adapter").GetString());
    }

    [Fact]
    public async Task CorruptFileGetsItsOwnErrorAndTheOthersSucceed()
    {
        using var server = Start(new FakeCaptionBackend());
        using var client = Client(server);
        var png = Png(4, 4, 1, 2, 3);
        var corrupt = png[..(png.Length / 2)];
        var response = await client.PostAsync("api/caption", Form([("good1.png", png), ("broken.png", corrupt), ("notimage.dcm", "hello"u8.ToArray()), ("good2.png", png)]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var r = Json(response).GetProperty("results").EnumerateArray().ToList();
        Assert.Contains("good1.png is 4x4", r[0].GetProperty("caption").GetString());
        Assert.Equal(JsonValueKind.Null, r[1].GetProperty("caption").ValueKind);
        Assert.Equal("CorruptImage", r[1].GetProperty("errorId").GetString());
        Assert.Contains("broken.png", r[1].GetProperty("error").GetString());
        Assert.Equal("CorruptImage", r[2].GetProperty("errorId").GetString());
        Assert.Contains("good2.png is 4x4", r[3].GetProperty("caption").GetString());
    }

    [Theory]
    [InlineData("api/status")]
    [InlineData("api/adapters")]
    [InlineData("")]
    [InlineData("app.js")]
    public async Task WithoutTokenEveryRequestIs401(string path)
    {
        using var server = Start(new FakeCaptionBackend());
        using var anonymous = Client(server, withToken: false);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);

        using var wrong = Client(server, withToken: false);
        wrong.DefaultRequestHeaders.Authorization = new("Bearer", server.Token[..^1] + (server.Token[^1] == 'A' ? 'B' : 'A'));
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task CaptionWithoutTokenIs401AndDoesNotReachTheModel()
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend);
        using var anonymous = Client(server, withToken: false);
        var response = await anonymous.PostAsync("api/caption", Form([("a.png", Png(2, 2, 0, 0, 0))]));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Unauthorized", Json(response).GetProperty("error").GetProperty("id").GetString());
        Assert.Equal(0, backend.CaptionCalls);
        // The query token opens the page only; it is not an API credential.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/status?token=" + server.Token)).StatusCode);
    }

    [Fact]
    public async Task PageLoadWithQueryTokenSetsHttpOnlyStrictCookieThatAuthorizesTheApi()
    {
        using var server = Start(new FakeCaptionBackend());
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = new Uri(server.BaseUrl) };

        var page = await browser.GetAsync("?token=" + server.Token);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var setCookie = Assert.Single(page.Headers.GetValues("Set-Cookie"));
        Assert.Contains("HttpOnly", setCookie);
        Assert.Contains("SameSite=Strict", setCookie);
        Assert.Contains("<title>MedGemma captions</title>", await page.Content.ReadAsStringAsync());

        var status = await browser.GetAsync("api/status");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.Equal("fake-model", Json(status).GetProperty("model").GetString());
        Assert.Equal("cpu", Json(status).GetProperty("device").GetString());
    }

    [Fact]
    public async Task CookieAuthenticatedPostFromAnotherOriginIs403()
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend);
        using var client = Client(server, withToken: false);
        var request = new HttpRequestMessage(HttpMethod.Post, "api/caption") { Content = Form([("a.png", Png(2, 2, 0, 0, 0))]) };
        request.Headers.Add("Cookie", $"{AccessToken.CookieName}={server.Token}");
        request.Headers.Add("Origin", "http://127.0.0.1:1");
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(0, backend.CaptionCalls);
    }

    [Fact]
    public async Task UploadOverTheLimitIs413()
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend, maxUploadBytes: 64 * 1024);
        using var client = Client(server);
        var big = new byte[100 * 1024];
        Random.Shared.NextBytes(big);
        var response = await client.PostAsync("api/caption", Form([("big.png", big)]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("UploadTooLarge", Json(response).GetProperty("error").GetProperty("id").GetString());
        Assert.Equal(0, backend.CaptionCalls);
        // Under the limit still works on the same server.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("api/caption", Form([("small.png", Png(3, 3, 9, 9, 9))]))).StatusCode);
    }

    /// <summary>
    /// An upload far over the limit: the server reads the rest of it away before answering, so the client, still
    /// sending, reads the 413 instead of a broken pipe (which it got about once in a few runs with a 30 kB file).
    /// </summary>
    [Fact]
    public async Task ALargeUploadOverTheLimitStillGetsItsAnswer()
    {
        using var server = Start(new FakeCaptionBackend(), maxUploadBytes: 4 * 1024);
        using var client = Client(server);
        var big = new byte[4 << 20];
        Random.Shared.NextBytes(big);
        for (var i = 0; i < 3; i++)
        {
            var response = await client.PostAsync("api/caption", Form([("big.png", big)]));
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }
    }

    [Fact]
    public async Task TwentyConcurrentClientsEachGetTheirOwnCaptionsAndTheModelRunsOneAtATime()
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend);
        using var client = Client(server);
        var tasks = Enumerable.Range(0, 20).Select(async i =>
        {
            var name = $"client{i}.png";
            var response = await client.PostAsync("api/caption", Form([(name, Png(3 + i, 2 + i, (byte)i, (byte)(2 * i), (byte)(3 * i)))], ("prompt", $"prompt {i}")));
            return (i, response.StatusCode, Body: Json(response));
        }).ToList();
        var all = await Task.WhenAll(tasks);

        foreach (var (i, status, body) in all)
        {
            Assert.Equal(HttpStatusCode.OK, status);
            var r = Assert.Single(body.GetProperty("results").EnumerateArray());
            Assert.Equal($"client{i}.png is {3 + i}x{2 + i} with first pixel {i},{2 * i},{3 * i}; prompt 'prompt {i}'", r.GetProperty("caption").GetString());
        }
        Assert.Equal(20, backend.CaptionCalls);
        Assert.Equal(1, backend.MaxConcurrentCaptions);
    }

    [Fact]
    public async Task BeyondTheQueueLimitRequestsGet503WithRetryAfter()
    {
        var backend = new FakeCaptionBackend { Gate = new ManualResetEventSlim(false) };
        using var server = Start(backend, queueLimit: 2);
        using var client = Client(server);
        HttpContent Body() => Form([("a.png", Png(2, 2, 5, 5, 5))]);

        var running = client.PostAsync("api/caption", Body());
        await WaitUntil(() => backend.CaptionCalls == 1);
        var waiting = client.PostAsync("api/caption", Body());
        await WaitUntil(() => server.PendingCaptions == 2);

        var refused = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.PostAsync("api/caption", Body())));
        foreach (var r in refused)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
            Assert.True(r.Headers.RetryAfter?.Delta?.TotalSeconds >= 1);
            Assert.Equal("QueueFull", Json(r).GetProperty("error").GetProperty("id").GetString());
        }

        backend.Gate.Set();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await waiting).StatusCode);
        Assert.Equal(2, backend.CaptionCalls);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("api/caption", Body())).StatusCode);
    }

    [Theory]
    [InlineData("adapter", "nope", "UnknownAdapter")]
    [InlineData("maxNewTokens", "0", "InvalidMaxNewTokens")]
    [InlineData("maxNewTokens", "many", "InvalidMaxNewTokens")]
    [InlineData("window", "kidney", "UnknownWindowPreset")]
    public async Task BadSettingsAre400WithAClearId(string field, string value, string errorId)
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend);
        using var client = Client(server);
        var response = await client.PostAsync("api/caption", Form([("a.png", Png(2, 2, 0, 0, 0))], (field, value)));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(errorId, Json(response).GetProperty("error").GetProperty("id").GetString());
        Assert.Equal(0, backend.CaptionCalls);
    }

    [Fact]
    public async Task RequestWithoutImagesOrNotMultipartIsRejected()
    {
        using var server = Start(new FakeCaptionBackend());
        using var client = Client(server);
        var none = await client.PostAsync("api/caption", Form([], ("prompt", "x")));
        Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
        Assert.Equal("NoImages", Json(none).GetProperty("error").GetProperty("id").GetString());
        var json = await client.PostAsync("api/caption", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await client.GetAsync("api/caption")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("api/nothing")).StatusCode);
    }

    [Fact]
    public async Task PreviewRendersAPngWithTheChosenWindow()
    {
        var backend = new FakeCaptionBackend();
        using var server = Start(backend);
        using var client = Client(server);
        var response = await client.PostAsync("api/preview", Form([("scan.png", Png(2000, 10, 7, 8, 9))], ("window", "lung")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("lung", backend.LastWindow);
        using var img = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(1024, img.Width); // shrunk for the page
        Assert.Equal(new SixLabors.ImageSharp.PixelFormats.Rgb24(7, 8, 9), img[0, 0]);

        var bad = await client.PostAsync("api/preview", Form([("x.dcm", "junk"u8.ToArray())]));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        Assert.Contains("x.dcm", Json(bad).GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("io", 500, "BackendFailed")]
    [InlineData("oom", 503, "OutOfMemory")]
    [InlineData("adapter", 400, "AdapterNotFound")]
    public async Task AFailureOfTheWholeBatchIsAJsonErrorNotAnEmptyResponse(string kind, int status, string errorId)
    {
        var backend = new FakeCaptionBackend
        {
            Throw = kind switch
            {
                // An IOException from the model must not be mistaken for the client hanging up.
                "io" => new FileNotFoundException("libsomething.so not found"),
                "oom" => new MedGemmaException(MedGemmaErrorKind.ResourceUnavailable, "OutOfMemory", "CUDA out of memory"),
                _ => new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound", "no adapter x", "x"),
            },
        };
        using var server = Start(backend);
        using var client = Client(server);
        var response = await client.PostAsync("api/caption", Form([("a.png", Png(2, 2, 0, 0, 0))]));
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(errorId, Json(response).GetProperty("error").GetProperty("id").GetString());
        // The server stays usable.
        backend.Throw = null;
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("api/caption", Form([("a.png", Png(2, 2, 0, 0, 0))]))).StatusCode);
    }

    [Fact]
    public async Task StatusListsAdaptersWindowsAndLimits()
    {
        using var server = Start(new FakeCaptionBackend(), queueLimit: 5, maxUploadBytes: 12345);
        using var client = Client(server);
        var status = Json(await client.GetAsync("api/status"));
        Assert.Equal(5, status.GetProperty("queue").GetProperty("limit").GetInt32());
        Assert.Equal(12345, status.GetProperty("limits").GetProperty("maxUploadBytes").GetInt64());
        var windows = status.GetProperty("windows").EnumerateArray().Select(w => w.GetProperty("id").GetString()).ToList();
        Assert.Contains("lung", windows);
        Assert.Contains("medgemma-rgb", windows);
        var adapters = Json(await client.GetAsync("api/adapters"));
        Assert.Equal(["base", "chest-xray"], adapters.GetProperty("adapters").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("base", adapters.GetProperty("active").GetString());
    }

    /// <summary>
    /// Polls until <paramref name="condition"/> holds. The bound only catches a hang: on a loaded 2-core CI box a
    /// request's steps were seen to stall for seconds while other test classes ran.
    /// </summary>
    static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + HangLimit;
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.True(condition(), $"condition not reached in {HangLimit.TotalSeconds} s");
    }

    static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);
}
