using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MedGemma.Engine.Server;

/// <summary>An HTTP failure with the status and stable error id the client sees.</summary>
public sealed class HttpError(int status, string errorId, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string ErrorId { get; } = errorId;
    public int? RetryAfterSeconds { get; init; }
}

/// <summary>Reading requests and writing responses; every response gets the same security headers.</summary>
static class HttpExchange
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    // Everything the page needs comes from this server; nothing may frame it or load from elsewhere.
    const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    public static void SecurityHeaders(HttpListenerResponse response)
    {
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["X-Frame-Options"] = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["Cache-Control"] = "no-store";
        response.Headers["Content-Security-Policy"] = ContentSecurityPolicy;
    }

    /// <summary>The whole body, or 413 when it is (or turns out to be) larger than <paramref name="limit"/>.</summary>
    public static async Task<byte[]> ReadBodyAsync(HttpListenerRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength64 > limit) throw TooLarge(limit);
        using var buffer = new MemoryStream(request.ContentLength64 > 0 ? (int)request.ContentLength64 : 64 * 1024);
        var chunk = new byte[81920];
        var stream = request.InputStream;
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit) throw TooLarge(limit);
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Reads and discards what is left of the request body (at most <paramref name="maxBytes"/>, for at most
    /// <paramref name="timeout"/>) before an early error response. A server that answers 413 or 503 without reading
    /// the upload closes the connection while the client is still sending: the client then sees a broken pipe or a
    /// reset instead of the answer. Best effort: a client that sends more than that still gets the connection closed.
    /// </summary>
    public static async Task DrainAsync(HttpListenerRequest request, long maxBytes, TimeSpan timeout)
    {
        if (!request.HasEntityBody) return;
        using var cts = new CancellationTokenSource(timeout);
        var chunk = new byte[81920];
        long total = 0;
        try
        {
            int read;
            while (total < maxBytes && (read = await request.InputStream.ReadAsync(chunk, cts.Token).ConfigureAwait(false)) > 0)
                total += read;
        }
        catch (Exception e) when (e is IOException or HttpListenerException or ObjectDisposedException or OperationCanceledException or InvalidOperationException) { }
    }

    static HttpError TooLarge(long limit) =>
        new(413, "UploadTooLarge", $"The upload is larger than the server's limit of {limit} bytes.");

    public static Task WriteJsonAsync(HttpListenerResponse response, int status, object value) =>
        WriteAsync(response, status, "application/json; charset=utf-8", JsonSerializer.SerializeToUtf8Bytes(value, Json));

    public static Task WriteErrorAsync(HttpListenerResponse response, HttpError error)
    {
        if (error.RetryAfterSeconds is int s) response.Headers["Retry-After"] = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return WriteJsonAsync(response, error.Status, new { error = new { id = error.ErrorId, message = error.Message } });
    }

    public static Task WriteTextAsync(HttpListenerResponse response, int status, string contentType, string text) =>
        WriteAsync(response, status, contentType, Encoding.UTF8.GetBytes(text));

    public static async Task WriteAsync(HttpListenerResponse response, int status, string contentType, byte[] body)
    {
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body).ConfigureAwait(false);
        response.OutputStream.Close();
    }
}
