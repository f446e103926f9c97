using System.Net;

namespace MedGemma.Engine.Server;

/// <summary>
/// A local web page and HTTP API for captioning images with one resident model. Runs in the
/// background until <see cref="Stop"/>; every request must carry the access token.
/// </summary>
public sealed class CaptionServer : IDisposable
{
    static int _nextId;

    readonly HttpListener _listener;
    readonly CancellationTokenSource _stopping = new();
    readonly Task _acceptLoop;
    readonly CaptionApi _api;
    readonly AccessToken _token;
    readonly ListenEndpoint _endpoint;
    readonly CaptionServerOptions _options;
    readonly object _inFlightGate = new();
    readonly HashSet<Task> _inFlight = [];
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _requests;
    int _stopRequested;

    public int Id { get; }
    public int Port { get; }
    public string ListenAddress => _options.ListenAddress;
    /// <summary>Where to point a browser or an API client, without the token.</summary>
    public string BaseUrl { get; }
    /// <summary>The URL to open: it carries the token, which the page turns into a cookie.</summary>
    public string Url => BaseUrl + "?token=" + _token.Value;
    public string Token => _token.Value;
    public DateTime StartedAt { get; }
    public ICaptionBackend Backend { get; }
    public CaptionServerOptions Options => _options;
    /// <summary>The model's display name (from the backend).</summary>
    public string Model => SafeStatus()?.Model ?? "";
    public string Device => SafeStatus()?.Device ?? "";
    /// <summary>The adapter used when a request names none.</summary>
    public string? Adapter => _options.DefaultAdapter ?? SafeStatus()?.Adapter;
    public bool IsRunning => !_stopped.Task.IsCompleted;
    public long RequestCount => Interlocked.Read(ref _requests);
    public int PendingCaptions => _api.Queue.Pending;
    /// <summary>Completes when the server has stopped (by <see cref="Stop"/> or a listener failure).</summary>
    public Task Completion => _stopped.Task;

    CaptionServer(ICaptionBackend backend, CaptionServerOptions options, HttpListener listener, ListenEndpoint endpoint, int port, AccessToken token)
    {
        Backend = backend;
        _options = options;
        _listener = listener;
        _endpoint = endpoint;
        _token = token;
        Port = port;
        Id = Interlocked.Increment(ref _nextId);
        BaseUrl = $"http://{endpoint.PublicHost}:{port}/";
        StartedAt = DateTime.UtcNow;
        _api = new CaptionApi(backend, options);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Binds and starts serving. Throws <see cref="MedGemmaException"/> for bad options or a port in use.</summary>
    public static CaptionServer Start(ICaptionBackend backend, CaptionServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var token = options.Token is null ? AccessToken.Generate() : AccessToken.From(options.Token);
        if (options.DefaultAdapter is { } adapter && !backend.Adapters().Contains(adapter, StringComparer.Ordinal))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound",
                $"No adapter named '{adapter}' in the model session. Available: {string.Join(", ", backend.Adapters())}.", adapter);
        // Port 0: probe for a free port; another process may grab it between probe and bind, so retry.
        var attempts = options.Port == 0 ? 5 : 1;
        for (var attempt = 1; ; attempt++)
        {
            var port = options.Port == 0 ? ListenEndpoint.FreePort() : options.Port;
            var endpoint = ListenEndpoint.Resolve(options.ListenAddress, port, options.AllowRemote);
            var listener = new HttpListener { IgnoreWriteExceptions = true };
            listener.Prefixes.Add(endpoint.Prefix);
            try
            {
                listener.Start();
            }
            catch (HttpListenerException e)
            {
                listener.Close();
                if (attempt < attempts) continue;
                throw new MedGemmaException(MedGemmaErrorKind.ResourceUnavailable, "PortUnavailable",
                    $"Cannot listen on {endpoint.Prefix}: {e.Message}", port, e);
            }
            var server = new CaptionServer(backend, options, listener, endpoint, port, token);
            CaptionServerRegistry.Add(server);
            return server;
        }
    }

    /// <summary>Stops listening, waits briefly for requests in progress, and releases the backend if owned.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) == 1) { _stopped.Task.Wait(TimeSpan.FromSeconds(15)); return; }
        _stopping.Cancel();
        try { _listener.Stop(); } catch (ObjectDisposedException) { }
        try { _acceptLoop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        Task[] running;
        lock (_inFlightGate) running = [.. _inFlight];
        try { Task.WaitAll(running, TimeSpan.FromSeconds(10)); } catch (AggregateException) { }
        _listener.Close();
        CaptionServerRegistry.Remove(this);
        if (_options.OwnsBackend && Backend is IDisposable d) d.Dispose();
        _stopped.TrySetResult();
    }

    public void Dispose() => Stop();

    async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync().ConfigureAwait(false); }
            catch (Exception) when (_stopping.IsCancellationRequested) { break; }
            catch (HttpListenerException) { continue; }
            catch (ObjectDisposedException) { break; }
            Interlocked.Increment(ref _requests);
            var task = Task.Run(() => HandleAsync(context));
            lock (_inFlightGate) _inFlight.Add(task);
            _ = task.ContinueWith(t => { lock (_inFlightGate) _inFlight.Remove(t); }, TaskScheduler.Default);
        }
    }

    async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        try
        {
            HttpExchange.SecurityHeaders(response);
            var path = request.Url?.AbsolutePath ?? "/";
            var source = _token.Check(request);
            var isPage = path is "/" or "/index.html";
            // The query token is for opening the page only (it then becomes a cookie); API calls use the
            // cookie or a Bearer header, so the token does not end up in access logs of proxies.
            if (source == TokenSource.None || (source == TokenSource.Query && !(isPage && request.HttpMethod == "GET")))
            {
                await HttpExchange.DrainAsync(request, DrainBytes, DrainTimeout).ConfigureAwait(false);
                await Unauthorized(response, path).ConfigureAwait(false);
                return;
            }
            // A cookie is sent by any page on this site (e.g. another port on 127.0.0.1): for state-changing
            // requests the Origin must be our own.
            if (source == TokenSource.Cookie && request.HttpMethod != "GET" && !SameOrigin(request))
                throw new HttpError(403, "CrossOrigin", "Cross-origin requests are not allowed.");
            if (source == TokenSource.Query) response.Headers.Add("Set-Cookie", _token.SetCookieHeader());

            if (path.StartsWith("/api/", StringComparison.Ordinal))
                await _api.HandleAsync(request, response, path, _stopping.Token).ConfigureAwait(false);
            else if (request.HttpMethod is "GET" or "HEAD" && WebAssets.TryGet(path, out var type, out var content))
                await HttpExchange.WriteAsync(response, 200, type, content).ConfigureAwait(false);
            else
                throw new HttpError(404, "NotFound", $"No such page: {path}");
        }
        catch (HttpError e)
        {
            await HttpExchange.DrainAsync(request, DrainBytes, DrainTimeout).ConfigureAwait(false);
            await TryWrite(() => HttpExchange.WriteErrorAsync(response, e)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away; nothing to tell it.
        }
        catch (Exception e)
        {
            await TryWrite(() => HttpExchange.WriteErrorAsync(response, new HttpError(500, "InternalError", e.Message))).ConfigureAwait(false);
        }
        finally
        {
            try { response.Close(); } catch (Exception) { }
        }
    }

    // How much of a refused upload is read away so that the client can read the answer (HttpExchange.DrainAsync).
    const long DrainBytes = 64L << 20;
    static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    static async Task TryWrite(Func<Task> write)
    {
        try { await write().ConfigureAwait(false); }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException) { }
    }

    Task Unauthorized(HttpListenerResponse response, string path)
    {
        if (path.StartsWith("/api/", StringComparison.Ordinal))
        {
            response.Headers["WWW-Authenticate"] = "Bearer";
            return HttpExchange.WriteErrorAsync(response, new HttpError(401, "Unauthorized",
                "Missing or wrong access token: send 'Authorization: Bearer <token>' or open the page from the URL Start-CaptionServer printed."));
        }
        return HttpExchange.WriteTextAsync(response, 401, "text/html; charset=utf-8",
            "<!doctype html><meta charset=utf-8><title>MedGemma caption server</title>" +
            "<p>This server needs its access token. Open the full URL that <code>Start-CaptionServer</code> returned " +
            "(<code>(Get-CaptionServer).Url</code>).</p>");
    }

    bool SameOrigin(HttpListenerRequest request)
    {
        var origin = request.Headers["Origin"];
        // Non-browser clients send no Origin; browsers always send it on POST.
        if (origin is null) return true;
        var host = request.Headers["Host"];
        return host is not null && string.Equals(origin, "http://" + host, StringComparison.OrdinalIgnoreCase);
    }

    BackendStatus? SafeStatus()
    {
        // Shown by Get-CaptionServer after Stop too, when an owned backend is already disposed.
        try { return Backend.Status(); }
        catch (Exception) { return null; }
    }

    public override string ToString() => BaseUrl;
}
