using System.Net;
using System.Net.Sockets;
using System.Text;
using MedGemma.Engine.Server;
using static MedGemma.Engine.Tests.Server.ServerTestSupport;

namespace MedGemma.Engine.Tests.Server;

public class CaptionServerLifecycleTests
{
    [Fact]
    public async Task StopReleasesThePortTheRegistryAndAnOwnedBackend()
    {
        var backend = new FakeCaptionBackend();
        var server = Start(backend, ownsBackend: true);
        Assert.Contains(server, CaptionServerRegistry.Running);
        Assert.StartsWith("http://127.0.0.1:", server.Url);
        Assert.EndsWith("?token=" + server.Token, server.Url);
        using (var client = Client(server)) Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/status")).StatusCode);

        server.Stop();
        Assert.False(server.IsRunning);
        Assert.DoesNotContain(server, CaptionServerRegistry.Running);
        Assert.True(backend.Disposed);
        // The port is free again.
        var probe = new TcpListener(IPAddress.Loopback, server.Port);
        probe.Start();
        probe.Stop();
        server.Stop(); // idempotent
    }

    [Fact]
    public void ABackendNotOwnedIsLeftOpen()
    {
        var backend = new FakeCaptionBackend();
        Start(backend).Stop();
        Assert.False(backend.Disposed);
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("192.168.1.20")]
    [InlineData("::")]
    public void NonLoopbackAddressNeedsAllowRemote(string address)
    {
        var e = Assert.Throws<MedGemmaException>(() => CaptionServer.Start(new FakeCaptionBackend(), new CaptionServerOptions { Port = 0, ListenAddress = address }));
        Assert.Equal("RemoteNotAllowed", e.ErrorId);
        Assert.Equal(address, e.Target);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("localhost", true)]
    [InlineData("0.0.0.0", false)]
    [InlineData("10.1.2.3", false)]
    public void ListenEndpointClassifiesLoopback(string address, bool loopback)
    {
        Assert.Equal(loopback, ListenEndpoint.Resolve(address, 7860, allowRemote: true).IsLoopback);
    }

    [Fact]
    public void BadListenAddressIsNamed()
    {
        var e = Assert.Throws<MedGemmaException>(() => ListenEndpoint.Resolve("not an address", 1, true));
        Assert.Equal("InvalidListenAddress", e.ErrorId);
    }

    [Fact]
    public void PortInUseIsAClearError()
    {
        using var first = Start(new FakeCaptionBackend());
        var e = Assert.Throws<MedGemmaException>(() => CaptionServer.Start(new FakeCaptionBackend(), new CaptionServerOptions { Port = first.Port }));
        Assert.Equal("PortUnavailable", e.ErrorId);
        Assert.Equal(MedGemmaErrorKind.ResourceUnavailable, e.Kind);
    }

    [Fact]
    public async Task ACallerChosenTokenIsUsed()
    {
        using var server = CaptionServer.Start(new FakeCaptionBackend(), new CaptionServerOptions { Port = 0, Token = "a-long-enough-token-123" });
        using var client = Client(server);
        Assert.Equal("a-long-enough-token-123", server.Token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/status")).StatusCode);
        Assert.Throws<MedGemmaException>(() => CaptionServer.Start(new FakeCaptionBackend(), new CaptionServerOptions { Port = 0, Token = "short" }));
    }

    [Fact]
    public async Task PageAndAssetsAreServedFromTheAssemblyWithoutExternalReferences()
    {
        using var server = Start(new FakeCaptionBackend());
        using var client = Client(server);
        foreach (var (path, type) in new[] { ("", "text/html"), ("app.js", "text/javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml") })
        {
            var r = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(type, r.Content.Headers.ContentType?.MediaType);
            Assert.Contains("default-src 'none'", r.Headers.GetValues("Content-Security-Policy").Single());
            var text = await r.Content.ReadAsStringAsync();
            // Offline use: no CDN or any other absolute URL to fetch from (the SVG namespace is not a fetch).
            Assert.DoesNotContain("https://", text);
            Assert.DoesNotContain("http://", text.Replace("http://www.w3.org/2000/svg", ""));
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("missing.js")).StatusCode);
    }

    [Fact]
    public void GeneratedTokensAreLongRandomAndComparedExactly()
    {
        var a = AccessToken.Generate();
        var b = AccessToken.Generate();
        Assert.NotEqual(a.Value, b.Value);
        Assert.Equal(43, a.Value.Length); // 32 bytes, base64url without padding
        Assert.True(a.Matches(a.Value));
        Assert.False(a.Matches(a.Value + "x"));
        Assert.False(a.Matches(a.Value[..^1]));
        Assert.False(a.Matches(null));
        Assert.DoesNotContain(a.Value, a.ToString());
    }

    [Fact]
    public async Task RawHttpWithAForeignHostIsNotServed()
    {
        // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host header.
        using var server = Start(new FakeCaptionBackend());
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = tcp.GetStream();
        var request = $"GET /api/status HTTP/1.1\r\nHost: evil.example:{server.Port}\r\nAuthorization: Bearer wrong\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var reply = await new StreamReader(stream).ReadToEndAsync();
        Assert.DoesNotContain("\"model\"", reply);
        Assert.Matches(@"^HTTP/1\.1 (400|401|404)", reply);
    }
}
