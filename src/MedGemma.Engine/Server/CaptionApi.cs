using System.Globalization;
using System.Net;
using MedGemma.Engine.Imaging;

namespace MedGemma.Engine.Server;

/// <summary>The /api/* endpoints (documented in docs/CaptionServer-API.md).</summary>
sealed class CaptionApi
{
    readonly ICaptionBackend _backend;
    readonly CaptionServerOptions _options;
    // Previews only decode (CPU) but hold whole images in memory; a couple at a time is plenty.
    readonly SemaphoreSlim _previews = new(2, 2);

    public CaptionQueue Queue { get; }

    public CaptionApi(ICaptionBackend backend, CaptionServerOptions options)
    {
        _backend = backend;
        _options = options;
        Queue = new CaptionQueue(options.QueueLimit);
    }

    public Task HandleAsync(HttpListenerRequest request, HttpListenerResponse response, string path, CancellationToken stopping) =>
        (request.HttpMethod, path) switch
        {
            ("GET", "/api/status") => HttpExchange.WriteJsonAsync(response, 200, Status()),
            ("GET", "/api/adapters") => HttpExchange.WriteJsonAsync(response, 200, new { adapters = _backend.Adapters(), active = _options.DefaultAdapter ?? _backend.Status().Adapter }),
            ("POST", "/api/caption") => CaptionAsync(request, response, stopping),
            ("POST", "/api/preview") => PreviewAsync(request, response, stopping),
            (_, "/api/status" or "/api/adapters" or "/api/caption" or "/api/preview") =>
                throw new HttpError(405, "MethodNotAllowed", $"{request.HttpMethod} is not allowed on {path}."),
            _ => throw new HttpError(404, "NotFound", $"No such endpoint: {path}"),
        };

    object Status()
    {
        var s = _backend.Status();
        return new
        {
            model = s.Model,
            device = s.Device,
            decodeSteps = s.DecodeSteps,
            adapter = _options.DefaultAdapter ?? s.Adapter,
            queue = new { pending = Queue.Pending, limit = Queue.Limit },
            limits = new
            {
                maxUploadBytes = _options.MaxUploadBytes,
                maxImagesPerRequest = _options.MaxImagesPerRequest,
                maxNewTokens = _options.MaxNewTokensLimit,
            },
            defaults = new { prompt = _options.DefaultPrompt, maxNewTokens = _options.DefaultMaxNewTokens },
            windows = WindowPresets.All.Select(p => new { id = p.Id, label = p.Label }),
        };
    }

    async Task CaptionAsync(HttpListenerRequest request, HttpListenerResponse response, CancellationToken stopping)
    {
        // Refuse before buffering the upload: a full queue must not also hold every waiting client's images in memory.
        if (Queue.Pending >= Queue.Limit) throw QueueFull();
        var form = await ReadFormAsync(request, stopping).ConfigureAwait(false);
        var files = form.Files.ToList();
        if (files.Count == 0) throw new HttpError(400, "NoImages", "The request has no image file parts.");
        if (files.Count > _options.MaxImagesPerRequest)
            throw new HttpError(400, "TooManyImages", $"{files.Count} images in one request; the limit is {_options.MaxImagesPerRequest}.");
        var settings = ReadSettings(form);
        var window = ReadWindow(form);
        var inputs = files.Select(f => new CaptionInput(f.FileName!, f.Content, window)).ToList();

        var started = DateTime.UtcNow;
        IReadOnlyList<CaptionResult>? results;
        try
        {
            var (admitted, r) = await Queue.TryPrepareAndRunAsync(() => _backend.Prepare(inputs, settings, stopping), stopping).ConfigureAwait(false);
            if (!admitted) throw QueueFull();
            results = r;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw new HttpError(503, "ServerStopping", "The server is stopping.");
        }
        catch (MedGemmaException e)
        {
            throw FromEngine(e);
        }
        catch (Exception e) when (e is not (HttpError or OperationCanceledException))
        {
            throw Unexpected(e);
        }
        if (results is null || results.Count != inputs.Count)
            throw new HttpError(500, "BackendResultMismatch", $"The model returned {results?.Count ?? 0} results for {inputs.Count} images.");

        await HttpExchange.WriteJsonAsync(response, 200, new
        {
            model = _backend.Status().Model,
            adapter = settings.Adapter ?? _backend.Status().Adapter,
            seconds = Math.Round((DateTime.UtcNow - started).TotalSeconds, 3),
            results = results.Select((r, i) => new
            {
                index = i,
                name = inputs[i].Name,
                caption = r.Caption,
                error = r.Error,
                errorId = r.Error is null ? null : r.ErrorId ?? "CaptionFailed",
                seconds = Math.Round(r.Elapsed.TotalSeconds, 3),
            }),
        }).ConfigureAwait(false);
    }

    async Task PreviewAsync(HttpListenerRequest request, HttpListenerResponse response, CancellationToken stopping)
    {
        var form = await ReadFormAsync(request, stopping).ConfigureAwait(false);
        var file = form.Files.FirstOrDefault() ?? throw new HttpError(400, "NoImages", "The request has no image file part.");
        var input = new CaptionInput(file.FileName!, file.Content, ReadWindow(form));
        await _previews.WaitAsync(stopping).ConfigureAwait(false);
        byte[] png;
        try
        {
            var image = await Task.Run(() => _backend.RenderPreview(input, stopping), stopping).ConfigureAwait(false);
            png = PreviewPng.Encode(image, maxSide: 1024);
        }
        catch (MedGemmaException e) { throw FromEngine(e); }
        catch (Exception e) when (e is not OperationCanceledException) { throw Unexpected(e); }
        finally { _previews.Release(); }
        await HttpExchange.WriteAsync(response, 200, "image/png", png).ConfigureAwait(false);
    }

    async Task<MultipartForm> ReadFormAsync(HttpListenerRequest request, CancellationToken stopping)
    {
        var boundary = MultipartForm.Boundary(request.ContentType)
            ?? throw new HttpError(415, "NotMultipart", "Send the images as multipart/form-data.");
        var body = await HttpExchange.ReadBodyAsync(request, _options.MaxUploadBytes, stopping).ConfigureAwait(false);
        try { return MultipartForm.Parse(body, boundary); }
        catch (MedGemmaException e) { throw new HttpError(400, e.ErrorId, e.Message); }
    }

    CaptionSettings ReadSettings(MultipartForm form)
    {
        var prompt = Blank(form.Field("prompt"));
        if (prompt is { Length: > 8000 }) throw new HttpError(400, "PromptTooLong", "The prompt is longer than 8000 characters.");
        var language = Blank(form.Field("language"));
        if (language is { Length: > 64 }) throw new HttpError(400, "InvalidLanguage", "The language name is longer than 64 characters.");
        var adapter = Blank(form.Field("adapter")) ?? _options.DefaultAdapter;
        if (adapter is not null && !_backend.Adapters().Contains(adapter, StringComparer.Ordinal))
            throw new HttpError(400, "UnknownAdapter", $"No adapter named '{adapter}'. Available: {string.Join(", ", _backend.Adapters())}.");
        var maxTokens = _options.DefaultMaxNewTokens;
        if (Blank(form.Field("maxNewTokens")) is string m)
        {
            if (!int.TryParse(m, NumberStyles.Integer, CultureInfo.InvariantCulture, out maxTokens) || maxTokens < 1 || maxTokens > _options.MaxNewTokensLimit)
                throw new HttpError(400, "InvalidMaxNewTokens", $"maxNewTokens must be a whole number from 1 to {_options.MaxNewTokensLimit}.");
        }
        return new CaptionSettings(prompt, language, adapter, maxTokens);
    }

    static string? ReadWindow(MultipartForm form)
    {
        var id = Blank(form.Field("window"));
        try { return WindowPresets.Find(id)?.Id; }
        catch (MedGemmaException e) { throw new HttpError(400, e.ErrorId, e.Message); }
    }

    HttpError QueueFull() =>
        new(503, "QueueFull", $"The server is busy ({Queue.Limit} requests queued); try again later.") { RetryAfterSeconds = Queue.RetryAfterSeconds() };

    static string? Blank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    // Wrapped so that, e.g., a FileNotFoundException from the model is not mistaken for a dropped connection.
    static HttpError Unexpected(Exception e) => new(500, "BackendFailed", $"The model failed: {e.GetType().Name}: {e.Message}");

    static HttpError FromEngine(MedGemmaException e) => e.Kind switch
    {
        MedGemmaErrorKind.InvalidArgument or MedGemmaErrorKind.NotFound => new HttpError(400, e.ErrorId, e.Message),
        MedGemmaErrorKind.InvalidData => new HttpError(422, e.ErrorId, e.Message),
        MedGemmaErrorKind.NotSupported => new HttpError(415, e.ErrorId, e.Message),
        MedGemmaErrorKind.ResourceUnavailable => new HttpError(503, e.ErrorId, e.Message) { RetryAfterSeconds = 30 },
        MedGemmaErrorKind.Cancelled => new HttpError(503, e.ErrorId, e.Message),
        _ => new HttpError(500, e.ErrorId, e.Message),
    };
}
