using System.Diagnostics;
using MedGemma.Engine.Generation;
using MedGemma.Engine.Imaging;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Model;
using MedGemma.Engine.Runtime;
using MedGemma.Engine.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Api;

/// <summary>
/// A model folder loaded once (weights, tokenizer, image processor) on one device, with its attached LoRA
/// adapters: what the PowerShell cmdlets keep resident between pipelines. Its surface is plain .NET types so
/// the cmdlet assembly never sees TorchSharp. One operation runs at a time; <see cref="Dispose"/> frees every tensor.
/// </summary>
public sealed partial class MedGemmaSession : IDisposable
{
    static int s_loads;

    readonly object _gate = new();
    readonly MedGemmaModel _model;
    readonly PromptBuilder _prompts;
    readonly ImagePreprocessor _images;
    readonly Dictionary<string, AdapterInfo> _adapters = new(StringComparer.OrdinalIgnoreCase);
    readonly List<string> _warnings = new();
    LoraModel? _lora;
    bool _disposed;

    /// <summary>How many times any session has loaded weights in this process (a reload shows here).</summary>
    public static int LoadCount => Volatile.Read(ref s_loads);

    public Guid Id { get; } = Guid.NewGuid();
    /// <summary>The model folder's name (e.g. "medgemma-4b-it").</summary>
    public string Name { get; }
    public string Path { get; }
    public string Device { get; }
    public string DType { get; }
    public DateTime LoadedAt { get; }
    public TimeSpan LoadTime { get; }
    /// <summary>Bytes of weights at <see cref="DType"/> (the estimate checked before loading).</summary>
    public long ParameterBytes { get; }
    public int ImageSize { get; }
    public int ImageTokens => _prompts.ImageSeqLength;
    public bool IsDisposed => _disposed;
    /// <summary>How the last caption's decode steps ran (CUDA graph replays, device steps and why, host steps); null before the first caption.</summary>
    public string? DecodeSteps => _model.LastDecodeSteps;
    /// <summary>Things the user should know about this load (slow CPU bf16, dtype chosen for memory...).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    public IReadOnlyList<AdapterInfo> Adapters
    {
        get { lock (_gate) return _adapters.Values.ToList(); }
    }

    MedGemmaSession(string path, MedGemmaModel model, PromptBuilder prompts, ImagePreprocessor images, long parameterBytes, TimeSpan loadTime, List<string> warnings)
    {
        Path = path;
        Name = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path));
        _model = model;
        _prompts = prompts;
        _images = images;
        Device = model.Device.ToString();
        DType = TorchRuntime.DTypeName(model.DType);
        ParameterBytes = parameterBytes;
        LoadTime = loadTime;
        LoadedAt = DateTime.Now;
        ImageSize = images.Config.Height;
        _warnings = warnings;
    }

    /// <summary>
    /// Loads a Hugging Face MedGemma folder (config.json, safetensors shards, tokenizer, processor config). Checks
    /// first that the weights fit the device and refuses with ResourceUnavailable when they do not.
    /// </summary>
    public static MedGemmaSession Load(string folder, SessionOptions? options = null, IProgress<string>? status = null, CancellationToken cancellationToken = default)
    {
        options ??= new SessionOptions();
        var full = System.IO.Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ModelFolderNotFound", $"Model folder not found: {full}", folder);
        if (!File.Exists(System.IO.Path.Combine(full, "config.json")))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "NotAModelFolder",
                $"'{full}' has no config.json; point -Path (or MEDGEMMA_MODEL) at a Hugging Face MedGemma folder.", folder);

        var watch = Stopwatch.StartNew();
        status?.Report("Starting libtorch");
        TorchRuntime.EnsureInitialized();
        var device = TorchRuntime.Resolve(options.Device);
        var warnings = new List<string>();
        var dtype = ChooseDType(full, device, options, warnings);
        var need = MemoryEstimate.ForCheckpoint(full, dtype);
        MemoryEstimate.EnsureFits(need, device, options.ExtraBytes + need.ParameterBytes / 10, hostAvailableBytes: HostBudget(options));
        if (device.type == DeviceType.CPU && dtype != ScalarType.Float32 && need.ParameterBytes > (1L << 30))
            warnings.Add($"{TorchRuntime.DTypeName(dtype)} inference of a {need.ParameterBytes / (double)(1L << 30):0.0} GiB model on the CPU is slow (minutes per caption); a CUDA GPU is much faster.");

        status?.Report("Reading tokenizer and processor config");
        var prompts = PromptBuilder.FromModelFolder(full);
        var images = ImagePreprocessor.FromModelFolder(full);
        cancellationToken.ThrowIfCancellationRequested();
        status?.Report($"Loading {need.Tensors} tensors ({need.ParameterBytes / (double)(1L << 20):0} MiB) to {device} as {TorchRuntime.DTypeName(dtype)}");
        var model = MedGemmaModel.Load(full, device, dtype, null, cancellationToken);
        Interlocked.Increment(ref s_loads);
        return new MedGemmaSession(full, model, prompts, images, need.ParameterBytes, watch.Elapsed, warnings);
    }

    static ScalarType ChooseDType(string folder, torch.Device device, SessionOptions options, List<string> warnings)
    {
        if (!string.IsNullOrWhiteSpace(options.DType)) return TorchRuntime.ParseDType(options.DType);
        if (device.type != DeviceType.CPU) return ScalarType.BFloat16;
        // fp32 on the CPU is faster and exact; take it when it leaves at least half the memory free.
        var fp32 = MemoryEstimate.ForCheckpoint(folder, ScalarType.Float32);
        var host = HostBudget(options) ?? long.MaxValue;
        if (fp32.ParameterBytes <= host / 2) return ScalarType.Float32;
        warnings.Add("Using bf16 on the CPU because float32 weights would take more than half of the available memory.");
        return ScalarType.BFloat16;
    }

    /// <summary>Host memory a load may use: what is available, capped by <see cref="SessionOptions.MaxHostMemory"/>.</summary>
    static long? HostBudget(SessionOptions options)
    {
        var available = MemoryEstimate.HostAvailableBytes();
        if (options.MaxHostMemory is not { } cap) return available;
        return available is { } a ? Math.Min(a, cap) : cap;
    }

    /// <summary>
    /// Captions a batch. Images that cannot be read become per-request errors; the others are generated
    /// together (one left-padded batch). Outcomes come back in request order.
    /// </summary>
    public IReadOnlyList<CaptionOutcome> Caption(IReadOnlyList<CaptionRequest> requests, CaptionSettings settings, CancellationToken cancellationToken = default, IProgress<int>? tokens = null) =>
        Caption(PrepareCaptions(requests, settings, cancellationToken), cancellationToken, tokens);

    /// <summary>
    /// The host half of <see cref="Caption(IReadOnlyList{CaptionRequest}, CaptionSettings, CancellationToken, IProgress{int})"/>:
    /// reads and preprocesses the batch's images (several at once). It touches neither the model nor the device, so
    /// it may run on another thread while the model generates an earlier batch (<see cref="CaptionPipeline{TTag}"/>).
    /// </summary>
    public PreparedCaptionBatch PrepareCaptions(IReadOnlyList<CaptionRequest> requests, CaptionSettings settings, CancellationToken cancellationToken = default) =>
        PrepareCaptions(requests, settings, cancellationToken, 0);

    /// <summary><see cref="PrepareCaptions(IReadOnlyList{CaptionRequest}, CaptionSettings, CancellationToken)"/> on at most <paramref name="maxThreads"/> threads (0: one per core).</summary>
    internal PreparedCaptionBatch PrepareCaptions(IReadOnlyList<CaptionRequest> requests, CaptionSettings settings, CancellationToken cancellationToken, int maxThreads)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(settings);
        settings.ImageOptions?.Validate();
        var images = PrepareImages(requests.Count, i => ImageLoader.Load(requests[i].ImagePath, settings.ImageOptions, cancellationToken), cancellationToken, maxThreads);
        return new PreparedCaptionBatch(this, requests.ToList(), settings, images);
    }

    /// <summary>The device half: generates the prepared batch. Outcomes come back in request order.</summary>
    public IReadOnlyList<CaptionOutcome> Caption(PreparedCaptionBatch prepared, CancellationToken cancellationToken = default, IProgress<int>? tokens = null)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        if (prepared.Session != this)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "PreparedForAnotherModel", $"The batch was prepared for {prepared.Session.Name}, not {Name}.");
        var requests = prepared.Requests;
        var results = Generate(prepared.Images, prepared.Settings, cancellationToken, tokens);
        return results.Select((r, i) => r.Error != null
            ? new CaptionOutcome(requests[i], null, r.Error)
            : new CaptionOutcome(requests[i], new CaptionResult
            {
                Path = requests[i].ImagePath, Caption = r.Text!, Reference = requests[i].Reference, Model = Name,
                Adapter = prepared.Settings.Adapter, Tokens = r.Tokens, Seconds = r.Seconds,
            }, null)).ToList();
    }

    /// <summary>Loads each image (a failure is that image's error) and preprocesses the rest into one pixel batch.</summary>
    PreparedImages PrepareImages(int count, Func<int, RgbImage> load, CancellationToken cancellationToken, int maxThreads = 0)
    {
        var loaded = OrderedParallel.Map(count, i =>
        {
            try { return (Image: (RgbImage?)load(i), Error: (MedGemmaException?)null); }
            catch (MedGemmaException e) { return (null, e); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, new MedGemmaException(MedGemmaErrorKind.InvalidData, "UnreadableImage", $"Image {i} cannot be read: {e.Message}", null, e));
            }
        }, cancellationToken, maxThreads);
        var readable = Enumerable.Range(0, count).Where(i => loaded[i].Image is not null).ToArray();
        var pixels = readable.Length == 0 ? [] : _images.PreprocessBatch(readable.Select(i => loaded[i].Image!).ToList(), cancellationToken, maxThreads);
        return new PreparedImages(readable, pixels, loaded.Select(l => l.Error).ToArray());
    }

    /// <summary>Generates for the readable images as one batch; the others keep their errors.</summary>
    List<(string? Text, int Tokens, double Seconds, MedGemmaException? Error)> Generate(PreparedImages images, CaptionSettings settings,
        CancellationToken cancellationToken, IProgress<int>? tokens)
    {
        var results = images.Errors.Select(e => ((string?)null, 0, 0.0, e)).ToList();
        if (images.Readable.Length > 0)
        {
            var watch = Stopwatch.StartNew();
            var texts = Generate(images.Pixels, images.Readable.Length, settings, cancellationToken, tokens);
            double share = watch.Elapsed.TotalSeconds / images.Readable.Length;
            for (int k = 0; k < images.Readable.Length; k++) results[images.Readable[k]] = (texts[k].Text, texts[k].Tokens, share, null);
        }
        return results;
    }

    List<(string Text, int Tokens)> Generate(float[] pixels, int imageCount, CaptionSettings s, CancellationToken ct, IProgress<int>? tokens)
    {
        var prompt = _prompts.Build(new PromptOptions { Instruction = s.Prompt, SystemPrompt = s.SystemPrompt, Language = s.Language, ImageCount = 1 });
        var batch = _prompts.Batch(Enumerable.Repeat(prompt, imageCount).ToList());
        long[][] Rows(long[] flat) => Enumerable.Range(0, batch.BatchSize).Select(r => PromptBatch.Row(flat, batch.SequenceLength, r).ToArray()).ToArray();
        var baseOptions = GenerationOptions.FromConfig(_model.GenerationConfig);
        var options = baseOptions with
        {
            MaxNewTokens = s.MaxNewTokens,
            DoSample = s.Temperature > 0,
            Temperature = s.Temperature > 0 ? s.Temperature : 1.0,
            TopP = s.TopP,
            TopK = s.TopK,
            Seed = s.Seed,
        };
        var stops = new HashSet<long>(options.EosTokenIds ?? Array.Empty<long>());
        foreach (var id in _prompts.Tokenizer.StopTokenIds()) stops.Add(id);

        long[][] generated;
        lock (_gate)
        {
            ThrowIfDisposed();
            SelectAdapter(s.Adapter);
            generated = _model.Generate(Rows(batch.InputIds), pixels, Rows(batch.AttentionMask), Rows(batch.TokenTypeIds), options, ct, tokens);
        }
        return generated.Select(row =>
        {
            int n = Array.FindIndex(row, id => stops.Contains(id));
            if (n < 0) n = row.Length;
            // Python's str.strip(), so a caption matches what Python code stripping the reference's decode gets (U+001C-U+001F included).
            var text = Tokenization.PyText.Strip(_prompts.Tokenizer.Decode(row.Take(n).Select(id => (int)id), skipSpecialTokens: true));
            return (text, n);
        }).ToList();
    }

    void SelectAdapter(string? name)
    {
        if (name == null)
        {
            _lora?.SetActive(null);
            return;
        }
        if (_lora == null || !_adapters.TryGetValue(name, out var info))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound",
                $"No adapter named '{name}' is loaded into {Name}; load it with Import-LoraAdapter.", name);
        _lora.SetActive(info.Name);
    }

    /// <summary>Loads a PEFT adapter folder (ours or Python PEFT's) under <paramref name="name"/>; with <paramref name="merge"/> its weights are added into the base layers.</summary>
    public AdapterInfo ImportAdapter(string folder, string? name = null, bool merge = false)
    {
        var full = System.IO.Path.GetFullPath(folder);
        name = string.IsNullOrWhiteSpace(name) ? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(full)) : name.Trim();
        using var adapter = LoraAdapter.Load(full);
        lock (_gate)
        {
            ThrowIfDisposed();
            if (_adapters.ContainsKey(name))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "AdapterExists",
                    $"An adapter named '{name}' is already loaded into {Name}; choose another -Name or remove it first.", name);
            // The model's one LoraModel, the one the trainer uses too, so both see the same adapter names.
            _lora ??= LoraModel.Of(_model);
            var previous = _lora.ActiveAdapter;
            adapter.AttachTo(_lora, name);
            var info = new AdapterInfo
            {
                Name = name, Path = full, Rank = adapter.Config.R, Alpha = adapter.Config.Alpha,
                TargetModules = adapter.Config.TargetModules, AdaptedModules = _lora.AdaptedModules(name).Count, Model = Name,
            };
            _adapters[name] = info;
            if (merge)
            {
                foreach (var a in _adapters.Values) a.Merged = false;
                _lora.SetActive(name);
                _lora.Merge();
                info.Merged = true;
            }
            else _lora.SetActive(previous);
            return info;
        }
    }

    /// <summary>Detaches an adapter and frees its tensors.</summary>
    public void RemoveAdapter(string name)
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (_lora == null || !_adapters.Remove(name))
                throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound", $"No adapter named '{name}' is loaded into {Name}.", name);
            _lora.RemoveAdapter(name);
        }
    }

    void ThrowIfDisposed()
    {
        if (_disposed)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ModelRemoved", $"The model {Name} was removed; import it again.", Path);
    }

    /// <summary>Frees every tensor of the model and its adapters; the memory is reusable by the next load.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _adapters.Clear();
            _model.Dispose();
            _lora = null;
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    public override string ToString() => $"{Name} ({Device}, {DType})";
}
