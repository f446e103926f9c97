using System.Net.Http.Headers;
using MedGemma.Engine.Server;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Tests.Server;

static class ServerTestSupport
{
    /// <summary>A server on 127.0.0.1 with a random free port.</summary>
    public static CaptionServer Start(ICaptionBackend backend, int queueLimit = 32, long maxUploadBytes = 100L * 1024 * 1024, bool ownsBackend = false) =>
        CaptionServer.Start(backend, new CaptionServerOptions
        {
            Port = 0,
            QueueLimit = queueLimit,
            MaxUploadBytes = maxUploadBytes,
            OwnsBackend = ownsBackend,
        });

    public static HttpClient Client(CaptionServer server, bool withToken = true)
    {
        var client = new HttpClient { BaseAddress = new Uri(server.BaseUrl), Timeout = TimeSpan.FromMinutes(2) };
        if (withToken) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        return client;
    }

    /// <summary>A PNG whose size and first pixel identify it.</summary>
    public static byte[] Png(int width, int height, byte r, byte g, byte b)
    {
        using var img = new Image<Rgb24>(width, height, new Rgb24(r, g, b));
        using var ms = new MemoryStream();
        img.SaveAsPng(ms);
        return ms.ToArray();
    }

    public static MultipartFormDataContent Form(IEnumerable<(string Name, byte[] Bytes)> images, params (string Key, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, bytes) in images)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(part, "image", name);
        }
        foreach (var (k, v) in fields) form.Add(new StringContent(v), k);
        return form;
    }
}
