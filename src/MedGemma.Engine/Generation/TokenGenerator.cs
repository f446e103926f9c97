using MedGemma.Engine.Model;
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
    Tensor? lastPositions;     // (B)
    Tensor? lastTokens;        // (B)
    Tensor? promptIds, promptPixels, promptMask, promptTypes;

    public int Steps { get; private set; }
    public int BatchSize { get; }

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
        if (options.DoSample) rng = new torch.Generator(options.Seed ?? (ulong)Random.Shared.NextInt64(), device);
        tokens = torch.full(BatchSize, options.MaxNewTokens, pad, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        finished = torch.zeros(BatchSize, dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
        promptIds = Own(inputIds, device);
        promptPixels = pixelValues is null ? null : Own(pixelValues, device);
        promptMask = attentionMask is null ? torch.ones(inputIds.shape, dtype: ScalarType.Int64, device: device).DetachFromDisposeScope() : Own(attentionMask, device);
        promptTypes = tokenTypeIds is null ? null : Own(tokenTypeIds, device);
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
            var positions = mask.to(ScalarType.Int64).cumsum(1) - 1;
            positions = positions.masked_fill(mask.eq(0), 1);
            using var output = model.Forward(new Gemma3Inputs
            {
                InputIds = promptIds!, PixelValues = promptPixels, AttentionMask = mask, TokenTypeIds = promptTypes,
                PositionIds = positions, Cache = cache, LogitsToKeep = 1,
            });
            logits = output.Logits.select(1, 0);
            Replace(ref lastPositions, positions.select(1, positions.shape[1] - 1));
            ReleasePrompt();
        }
        else
        {
            var positions = lastPositions! + 1;
            using var output = model.Forward(new Gemma3Inputs
            {
                // A stopped row keeps running on its pad id (as transformers does); clamped so any pad id is a valid index.
                InputIds = lastTokens!.clamp(0, model.Config.Text.VocabSize - 1).unsqueeze(1),
                AttentionMask = torch.ones(BatchSize, 1, dtype: ScalarType.Int64, device: lastTokens.device),
                PositionIds = positions.unsqueeze(1), Cache = cache,
            });
            logits = output.Logits.select(1, 0);
            Replace(ref lastPositions, positions);
        }

        var next = LogitsSampler.Next(logits, options, rng);
        next = torch.where(finished, torch.full_like(next, pad), next);
        finished.logical_or_(torch.isin(next, eos));
        tokens.select(1, Steps).copy_(next);
        Replace(ref lastTokens, next);
        Steps++;
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
        ReleasePrompt();
        cache.Dispose();
        eos.Dispose();
        tokens.Dispose();
        finished.Dispose();
        lastPositions?.Dispose();
        lastTokens?.Dispose();
        rng?.Dispose();
    }
}
