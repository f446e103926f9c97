using MedGemma.Engine.Model;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Generation;

/// <summary>
/// Step-wise generation for a (left-padded) batch: the first <see cref="GenerateNextToken"/> runs the prompt,
/// each later one feeds the previous tokens through the KV cache. Tokens, positions and stop flags stay on the
/// device; only <see cref="IsDone"/> and <see cref="NewTokens"/> read back to the host. Positions follow
/// transformers' generate (cumulative attention mask), so a padded row gives the same tokens as when run alone.
/// </summary>
public sealed class TokenGenerator : IDisposable
{
    readonly Gemma3ForConditionalGeneration model;
    readonly GenerationOptions options;
    readonly KvCache cache;
    readonly torch.Generator? rng;
    readonly Tensor eos;
    readonly long[] eosHost;
    readonly long pad;
    readonly Tensor tokens;    // (B, MaxNewTokens)
    readonly Tensor finished;  // (B) bool
    Tensor? positions;         // (B, 1): of the last token fed, advanced in place each step
    Tensor? promptIds, promptPixels, promptMask, promptTypes;
    readonly bool promptAllReal;   // no padding in the prompt, known without reading the device
    readonly bool padIsToken;      // the pad id is a vocabulary index, so a stopped row's input needs no clamp

    public int Steps { get; private set; }
    public int BatchSize { get; }

    static readonly AsyncLocal<DecodeStepMode?> stepModeOverride = new();

    /// <summary>Process-wide default for the steps after the prompt (<see cref="DecodeStepMode.Auto"/>).</summary>
    public static DecodeStepMode DefaultStepMode { get; set; } = DecodeStepMode.Auto;

    /// <summary>The mode for generators made in the current async flow: an override set here, else <see cref="DefaultStepMode"/>.</summary>
    public static DecodeStepMode StepMode
    {
        get => stepModeOverride.Value ?? DefaultStepMode;
        set => stepModeOverride.Value = value;
    }

    /// <summary>Why <see cref="DecodeStepMode.CudaGraph"/> last ran as Device steps in this process (null while graphs worked or were not tried).</summary>
    public static string? CudaGraphUnavailable { get; internal set; }

    /// <summary>
    /// Failed captures so far in this process. After <see cref="MaxFailedCaptures"/> the process stops trying (each
    /// failure costs a step's host time and may leave an abandoned capture behind); a single failure may come from
    /// lazy one-time setup inside the capture, which the next generation no longer meets.
    /// </summary>
    static int failedCaptures;
    const int MaxFailedCaptures = 2;

    /// <summary>
    /// Device steps run before the first capture of a step shape: libtorch's lazy per-stream setup (cuBLAS workspaces),
    /// lazily loaded kernels and TorchScript's profiling and optimisation then happen outside the capture.
    /// </summary>
    internal const int GraphWarmUpSteps = 3;

    static long graphCaptures, graphReplays, graphCaptureTicks;

    /// <summary>Process totals of the graph path: captures, replays, and the host seconds the captures took (instantiation included).</summary>
    public static (long Captures, long Replays, double CaptureSeconds) GraphTotals =>
        (Interlocked.Read(ref graphCaptures), Interlocked.Read(ref graphReplays), Interlocked.Read(ref graphCaptureTicks) / (double)System.Diagnostics.Stopwatch.Frequency);

    static readonly AsyncLocal<Func<Device, IStepGraph?>?> graphFactoryOverride = new();

    /// <summary>Makes the graphs of generators created in the current async flow (tests: a graph emulated on a CPU); null = CUDA graphs.</summary>
    internal static Func<Device, IStepGraph?>? GraphFactory
    {
        get => graphFactoryOverride.Value;
        set => graphFactoryOverride.Value = value;
    }

    readonly DecodeStepMode stepMode;

    /// <summary>How this generator runs its steps after the prompt (<see cref="DecodeStepMode.Auto"/> resolved for its device).</summary>
    public DecodeStepMode ResolvedStepMode => stepMode;
    readonly Func<Device, IStepGraph?>? graphFactory;
    IStepGraph? graph;
    bool captured;
    Tensor? graphIds;
    int warmUpSteps;

    public TokenGenerator(Gemma3ForConditionalGeneration model, Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask, Tensor? tokenTypeIds,
        GenerationOptions options, Config.GenerationConfig? generationConfig = null)
    {
        options.Validate();
        this.model = model;
        this.options = options;
        if (inputIds.dim() != 2)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InputIdsShape", "input_ids must be [batch, length].", "input_ids");
        BatchSize = (int)inputIds.shape[0];
        var device = model.Device;
        var eosIds = options.EosTokenIds ?? generationConfig?.EosTokenIds ?? model.Config.EosTokenIds;
        pad = options.PadTokenId ?? generationConfig?.PadTokenId ?? model.Config.Text.PadTokenId;
        eosHost = eosIds.ToArray();
        eos = torch.tensor(eosHost, device: device).DetachFromDisposeScope();
        cache = new KvCache(model.Config.Text, BatchSize, (int)inputIds.shape[1] + options.MaxNewTokens, device, model.DType);
        if (options.DoSample)
        {
            // TorchSharp 0.107's generators are CPU generators: on a GPU one would cost a device-to-host copy (a sync) of the
            // probabilities per sampled token. There the device's default generator draws instead, seeded here when a seed is
            // given (like transformers' set_seed, this resets the process's CUDA random state).
            if (device.type != DeviceType.CUDA) rng = new torch.Generator(options.Seed ?? (ulong)Random.Shared.NextInt64(), device);
            else if (options.Seed is { } seed) torch.cuda.manual_seed_all(unchecked((long)seed));
        }
        tokens = torch.full(BatchSize, options.MaxNewTokens, pad, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        finished = torch.zeros(BatchSize, dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
        promptIds = Own(inputIds, device);
        promptPixels = pixelValues is null ? null : Own(pixelValues, device);
        promptMask = attentionMask is null ? torch.ones(inputIds.shape, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope() : Own(attentionMask, device);
        // A mask in host memory is read for free; one on the GPU would cost a synchronisation, so it counts as padded.
        promptAllReal = attentionMask is null || (attentionMask.device_type == DeviceType.CPU && AllOnes(attentionMask));
        padIsToken = pad >= 0 && pad < model.Config.Text.VocabSize;
        promptTypes = tokenTypeIds is null ? null : Own(tokenTypeIds, device);
        stepMode = StepMode == DecodeStepMode.Auto ? (device.type == DeviceType.CUDA ? DecodeStepMode.CudaGraph : DecodeStepMode.Host) : StepMode;
        graphFactory = GraphFactory;
    }

    /// <summary>True when every row produced an eos or <see cref="GenerationOptions.MaxNewTokens"/> were made (reads the device).</summary>
    public bool IsDone
    {
        get
        {
            if (Steps >= options.MaxNewTokens) return true;
            if (Steps == 0) return false;
            using var scope = torch.NewDisposeScope();
            return finished.all().item<bool>();
        }
    }

    /// <summary>Generates one token per row (the pad id for rows already stopped).</summary>
    public void GenerateNextToken()
    {
        if (Steps >= options.MaxNewTokens)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "GenerationFinished", $"All {options.MaxNewTokens} new tokens were generated.", "MaxNewTokens");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Tensor logits;
        if (Steps == 0)
        {
            var mask = promptMask!;
            var promptPositions = mask.to(ScalarType.Int64).cumsum(1) - 1;
            promptPositions = promptPositions.masked_fill(mask.eq(0), 1);
            using var output = model.Forward(new Gemma3Inputs
            {
                // No mask when the host knows there is no padding: the cache then needs no padding masks per step.
                InputIds = promptIds!, PixelValues = promptPixels, AttentionMask = promptAllReal ? null : mask, TokenTypeIds = promptTypes,
                PositionIds = promptPositions, Cache = cache, LogitsToKeep = 1,
            });
            logits = output.Logits.select(1, 0);
            Replace(ref positions, promptPositions.narrow(1, promptPositions.shape[1] - 1, 1).clone());
            ReleasePrompt();
        }
        else
        {
            // A stopped row keeps running on its pad id (as transformers does); clamped when the pad id is not a valid index.
            var fed = tokens.narrow(1, Steps - 1, 1);
            if (!padIsToken) fed = fed.clamp(HeldScalars.Integer(0), HeldScalars.Integer(model.Config.Text.VocabSize - 1));
            if (stepMode != DecodeStepMode.Host && !cache.DeviceSteps) cache.EnterDeviceSteps();
            logits = stepMode == DecodeStepMode.CudaGraph && GraphFallbackReason is null ? GraphStep(fed) : Step(fed);
        }

        var next = LogitsSampler.Next(logits, options, rng);
        next.masked_fill_(finished, HeldScalars.Integer(pad));
        finished.logical_or_(torch.isin(next, eos));
        tokens.select(1, Steps).copy_(next);
        Steps++;
    }

    /// <summary>One token through the model (positions advance in place; the cache writes and advances).</summary>
    Tensor Step(Tensor fed)
    {
        positions!.add_(HeldScalars.Integer(1));
        // No attention mask: generated tokens are real, so the step's masks only cover the prompt's padding.
        using var output = model.Forward(new Gemma3Inputs { InputIds = fed, PositionIds = positions, Cache = cache });
        return output.Logits.select(1, 0);
    }

    /// <summary>
    /// A device step through a recorded graph: the first <see cref="GraphWarmUpSteps"/> steps run as warm-up, the next
    /// is captured (recorded, not run) and every step from then on is one replay, after copying the fed ids into the
    /// graph's input. Without a graph, or when the capture fails, this and every later step run as plain device
    /// steps, and <see cref="CudaGraphUnavailable"/> says why.
    /// </summary>
    Tensor GraphStep(Tensor fed)
    {
        if (!captured)
        {
            if (graph is null && !TryMakeGraph()) return Step(fed);
            if (graph!.Unproven && warmUpSteps < GraphWarmUpSteps)
            {
                warmUpSteps++;
                return graph!.WarmUp(() => Step(fed));
            }
            graphIds = torch.empty(fed.shape, dtype: fed.dtype, device: fed.device).copy_(fed).DetachFromDisposeScope();
            var length = cache.Length;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                // Recorded with the host values of this step: replays never update them (positions and cache
                // counters advance on the device, inside the recording).
                graph!.Capture(() => cache.Recording(length, () =>
                {
                    positions!.add_(HeldScalars.Integer(1));
                    using var output = model.Forward(new Gemma3Inputs { InputIds = graphIds, PositionIds = positions, Cache = cache });
                    return output.Logits.select(1, 0);
                }));
                captured = true;
                CudaGraphUnavailable = null;
                Interlocked.Increment(ref graphCaptures);
                Interlocked.Add(ref graphCaptureTicks, System.Diagnostics.Stopwatch.GetTimestamp() - started);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Nothing recorded ran, so the cache, its counters and the positions are as before the capture.
                if (graphFactory is null) Interlocked.Increment(ref failedCaptures);
                GiveUpGraph($"capture failed: {e.Message.Split('\n')[0]}");
                return Step(fed);
            }
        }
        else
        {
            graphIds!.copy_(fed);
        }
        cache.AdvanceHost();   // checks the room first: a replay past the end would index outside the cache on the device
        Interlocked.Increment(ref graphReplays);
        if (graph!.Unproven) return CheckedReplay(fed);
        graph.Replay();
        return graph.Output;
    }

    /// <summary>
    /// Largest |replayed − plain| logit allowed, relative to the largest |logit|: the same kernels on another stream
    /// may pick other GEMM algorithms, a few bf16 roundings apart; a replay that reads the wrong memory or a stale
    /// host value is far off.
    /// </summary>
    internal const double ReplayTolerance = 0.02;

    /// <summary>
    /// The first replay of an unproven step shape, checked: replays, then puts the device counters back and runs the
    /// same token as a plain device step (which rewrites the same cache slots). Agreement proves the shape; otherwise
    /// graphs stop for the process (a wrong replay is no accident) and the plain step's logits are used.
    /// </summary>
    Tensor CheckedReplay(Tensor fed)
    {
        var counters = cache.SaveDeviceCounters();
        var savedPositions = positions!.clone();
        graph!.Replay();
        var replayed = graph.Output.clone();
        cache.RestoreDeviceCounters(counters);
        positions.copy_(savedPositions);
        var plain = cache.Recording(cache.Length - 1, () => Step(fed));   // the host count already holds this step
        using var scope = torch.NewDisposeScope();
        var b = plain.to(ScalarType.Float32);
        var diff = (replayed.to(ScalarType.Float32) - b).abs().max().item<float>();
        var scale = b.abs().max().item<float>();
        if (diff <= ReplayTolerance * scale + 1e-6)
        {
            graph.MarkProven();
            return plain;
        }
        if (graphFactory is null) Volatile.Write(ref failedCaptures, MaxFailedCaptures);
        GiveUpGraph($"a replayed step disagreed with the plain step (max |Δ logit| {diff:G3}, max |logit| {scale:G3})");
        return plain;
    }

    bool TryMakeGraph()
    {
        string? why = null;
        if (graphFactory is { } make) graph = make(model.Device) ?? throw new InvalidOperationException("The graph factory made no graph.");
        else if (Volatile.Read(ref failedCaptures) >= MaxFailedCaptures) why = CudaGraphUnavailable ?? "earlier captures failed";
        else graph = CudaStepGraph.TryCreate(model.Device, CudaStepGraph.StepShape(model.Device, BatchSize, cache), out why);
        if (graph is not null) return true;
        GiveUpGraph(why ?? "no CUDA graph");
        return false;
    }

    /// <summary>Why this generator's steps ran without a graph in <see cref="DecodeStepMode.CudaGraph"/> mode (null while it used one or was not asked to).</summary>
    public string? GraphFallbackReason { get; private set; }

    /// <summary>
    /// How the steps after the prompt ran so far, in words for a user (a cmdlet's verbose output): host steps, device
    /// steps, CUDA graph replays, or device steps with the reason graphs were not used.
    /// </summary>
    public string DecodeSteps => stepMode switch
    {
        DecodeStepMode.Host => "host steps",
        DecodeStepMode.Device => "device steps",
        _ when GraphFallbackReason is { } why => $"device steps (CUDA graphs not used: {why})",
        _ when captured => "CUDA graph replays",
        _ => "device steps (the generation ended before its CUDA graph capture)",
    };

    void GiveUpGraph(string why)
    {
        CudaGraphUnavailable = GraphFallbackReason = why;   // from here on, this generator runs plain steps
        graph?.Dispose();
        graph = null;
    }

    static bool AllOnes(Tensor mask)
    {
        using var scope = torch.NewDisposeScope();
        return mask.ne(0).all().item<bool>();
    }

    /// <summary>(B, Steps) ids generated so far; after a row's eos, the pad id.</summary>
    public long[][] NewTokens
    {
        get
        {
            using var scope = torch.NewDisposeScope();
            var flat = tokens.narrow(1, 0, Steps).cpu().data<long>().ToArray();
            return Enumerable.Range(0, BatchSize).Select(r => flat.AsSpan(r * Steps, Steps).ToArray()).ToArray();
        }
    }

    /// <summary>How many steps <see cref="Run"/> generates between two reads of the stop flags.</summary>
    public const int StopCheckInterval = 8;

    /// <summary>
    /// Runs to the end (eos on every row, or the token limit) and returns <see cref="NewTokens"/>. Reading the stop
    /// flags synchronises the host with the device and stalls the queue of work, so they are read every
    /// <see cref="StopCheckInterval"/> steps; the steps made after the last row stopped are dropped, so the result
    /// equals a check after every step.
    /// </summary>
    public long[][] Run(CancellationToken cancellationToken = default, IProgress<int>? progress = null)
    {
        while (Steps < options.MaxNewTokens && !(Steps > 0 && Steps % StopCheckInterval == 0 && IsDone))
        {
            if (cancellationToken.IsCancellationRequested)
                throw new MedGemmaException(MedGemmaErrorKind.Cancelled, "Cancelled", "Generation was cancelled.", null, new OperationCanceledException(cancellationToken));
            GenerateNextToken();
            progress?.Report(Steps);
        }
        return TrimAfterLastStop(NewTokens);
    }

    /// <summary>Cuts the columns after the step at which every row had produced an eos (none when a row never did).</summary>
    long[][] TrimAfterLastStop(long[][] rows)
    {
        var eosIds = eosHost;
        var last = 0;
        foreach (var row in rows)
        {
            var first = Array.FindIndex(row, t => Array.IndexOf(eosIds, t) >= 0);
            if (first < 0) return rows;
            last = Math.Max(last, first + 1);
        }
        return last >= Steps ? rows : rows.Select(r => r[..last]).ToArray();
    }

    /// <summary>A private copy on the model's device, so the caller keeps ownership of its tensors.</summary>
    static Tensor Own(Tensor x, Device device)
    {
        if (x.shape.Length > 0 && x.shape[0] == 0) throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "EmptyInput", "Empty batch.", "input_ids");
        return torch.empty(x.shape, dtype: x.dtype, device: device).copy_(x).DetachFromDisposeScope();
    }

    static void Replace(ref Tensor? field, Tensor value)
    {
        field?.Dispose();
        field = value.DetachFromDisposeScope();
    }

    void ReleasePrompt()
    {
        promptIds?.Dispose(); promptPixels?.Dispose(); promptMask?.Dispose(); promptTypes?.Dispose();
        promptIds = promptPixels = promptMask = promptTypes = null;
    }

    public void Dispose()
    {
        graphIds?.Dispose();
        graph?.Dispose();
        ReleasePrompt();
        cache.Dispose();
        eos.Dispose();
        tokens.Dispose();
        finished.Dispose();
        positions?.Dispose();
        rng?.Dispose();
    }
}
