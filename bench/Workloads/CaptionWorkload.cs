using MedGemma.Engine.Generation;
using TorchSharp;
using static TorchSharp.torch;
using static MedGemma.Bench.Workloads.BenchTiming;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Greedy captioning as shared/reference/hf_bench.py measures it: a 280-token prompt (one image + 16 text tokens),
/// 64 new tokens with no early stop, batch 1 and 8. First-token time = a whole generation of one token;
/// decode tokens/s = 63·B / (total − first), captions/s = B / total.
/// </summary>
public sealed class CaptionWorkload : IWorkload
{
    public string Name => "caption";
    public string Description => "greedy captioning: first-token latency, decode tokens/s, captions/s (--size full|deep|mid|tiny, --batches 1,8)";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs a)
    {
        var device = ModelSizes.ResolveDevice(a, cpuDefault: false);
        var dtype = ModelSizes.ResolveDType(a, device);
        var size = a.Get("size") ?? (device.type == DeviceType.CUDA ? "full" : "tiny");
        var batches = (a.Get("batches") ?? "1,8").Split(',').Select(int.Parse).ToArray();
        var newTokens = a.GetInt("new-tokens", 64);
        var textLength = a.GetInt("text", 16);
        var warmup = a.GetInt("warmup", device.type == DeviceType.CUDA ? 2 : 1);
        var repeat = a.GetInt("repeat", 5);
        var config = ModelSizes.Config(size);
        // Auto: CUDA graphs on CUDA, host steps elsewhere (as TokenGenerator resolves it).
        var stepMode = TokenGenerator.DefaultStepMode != DecodeStepMode.Auto ? TokenGenerator.DefaultStepMode
            : device.type == DeviceType.CUDA ? DecodeStepMode.CudaGraph : DecodeStepMode.Host;
        // Polled slowly: no caption target is about memory, and each poll starts nvidia-smi next to a launch-bound decode loop.
        using var memory = device.type == DeviceType.CUDA ? new GpuMemoryMonitor(intervalMs: 500) : null;

        using var model = ModelSizes.Build(config, device, dtype);
        Console.WriteLine($"   size {size} ({ModelSizes.ParameterCount(model) / 1e9:F3} B parameters), {dtype} on {device}; {newTokens} new tokens, {warmup} warm-up + {repeat} timed runs (median)");
        Console.WriteLine($"   {"batch",5} {"prompt",6} {"first token",12} {"total",9} {"decode tok/s",13} {"captions/s",11} {"tensors/token",14} {"peak GPU",10}");
        foreach (var b in batches)
        {
            using var scope = torch.NewDisposeScope();
            var (ids, mask, types, pixels) = ModelSizes.Batch(config, b, textLength, device, dtype);
            // No eos can stop a row (ids are never negative): every run makes exactly newTokens tokens, like min_new_tokens.
            var options = new GenerationOptions { MaxNewTokens = newTokens, EosTokenIds = new long[] { -1 }, PadTokenId = 0 };
            var first = options with { MaxNewTokens = 1 };
            long[][] Generate(GenerationOptions o)
            {
                using var g = new TokenGenerator(model, ids, pixels, mask, types, o);
                return g.Run();
            }
            for (var i = 0; i < warmup; i++) { Generate(options); Generate(first); }
            memory?.Reset();
            var totals = new List<double>();
            var firsts = new List<double>();
            for (var i = 0; i < repeat; i++)
            {
                totals.Add(Time(device, () => Generate(options)));
                firsts.Add(Time(device, () => Generate(first)));
            }
            var total = Median(totals);
            var firstToken = Median(firsts);
            var decode = (newTokens - 1) * b / Math.Max(total - firstToken, 1e-9);
            var perToken = TensorsPerDecodeStep(model, ids, pixels, mask, types, options);
            // Another step mode must give the tokens host steps give (random weights can tie, so report, not assert).
            string agreement = "";
            if (stepMode != DecodeStepMode.Host)
            {
                var mine = Generate(options);
                TokenGenerator.StepMode = DecodeStepMode.Host;
                var host = Generate(options);
                TokenGenerator.StepMode = TokenGenerator.DefaultStepMode;
                var same = mine.Zip(host, (x, y) => x.Zip(y).TakeWhile(p => p.First == p.Second).Count()).ToArray();
                agreement = $"; tokens equal to host steps' for the first {string.Join("/", same)} of {newTokens}";
                BenchReport.Record(a, $"caption{Variant()}_b{b}_tokens_matching_host", same.Average() / newTokens);
            }
            var peak = memory?.PeakBytes ?? -1;
            Console.WriteLine($"   {b,5} {ids.shape[1],6} {firstToken * 1e3,9:F1} ms {total,7:F3} s {decode,13:F1} {b / total,11:F3} {perToken,14:F0} {Gib(peak),10}{agreement}");
            var key = $"caption{Variant()}_b{b}";
            BenchReport.Record(a, $"{key}_first_token_s", firstToken);
            BenchReport.Record(a, $"{key}_decode_tokens_per_s", decode);
            BenchReport.Record(a, $"{key}_captions_per_s", b / total);
            BenchReport.Record(a, $"{key}_seconds_per_{newTokens}_tokens", total);
            if (peak >= 0) BenchReport.Record(a, $"{key}_peak_gib", peak / (double)(1L << 30));
        }
        if (memory?.Source is { } src) Console.WriteLine($"   peak GPU memory from {src}");
        if (Engine.Text.Gemma3DecoderLayer.ScriptedDecodeDisabledReason is { } why) Console.WriteLine($"   scripted decode steps were OFF (eager fallback): {why}");
        if (stepMode == DecodeStepMode.CudaGraph)
        {
            // The _cudagraph rows are device steps when no graph was replayed: say so in the JSON too.
            BenchReport.Record(a, $"caption{Variant()}_graphs_replayed", device.type == DeviceType.CUDA && TokenGenerator.CudaGraphUnavailable is null ? 1 : 0);
            Console.WriteLine(device.type != DeviceType.CUDA ? "   CUDA graphs need a CUDA device: these were device steps"
                : TokenGenerator.CudaGraphUnavailable is { } noGraph ? $"   CUDA graphs were NOT used (device steps instead): {noGraph}" : "   decode steps replayed as CUDA graphs");
            var (captures, replays, captureSeconds) = TokenGenerator.GraphTotals;
            Console.WriteLine($"   graphs in this process: {captures} captures ({(captures > 0 ? captureSeconds / captures * 1e3 : 0):F1} ms host time each, instantiation included), {replays} replays");
            if (captures > 0) BenchReport.Record(a, $"caption{Variant()}_graph_capture_ms", captureSeconds / captures * 1e3);
        }
        return 0;
    }

    /// <summary>
    /// Rows run with --fused-norm or --scripted-decode set explicitly record under their own keys (e.g.
    /// caption_scripteddecode-off_b1), so a comparison row never replaces the headline numbers of the engine's defaults.
    /// </summary>
    static string Variant()
    {
        var v = "";
        if (Engine.Text.Gemma3RMSNorm.DefaultFused is bool f) v += f ? "_fusednorm" : "_plainnorm";
        if (Engine.Text.Gemma3DecoderLayer.DefaultScriptedDecode is bool s) v += s ? "_scripteddecode" : "_eagerdecode";
        v += TokenGenerator.DefaultStepMode switch
        {
            DecodeStepMode.Host => "_hoststeps",
            DecodeStepMode.Device => "_devicesteps",
            DecodeStepMode.CudaGraph => "_cudagraph",
            _ => "",   // Auto, the engine's default: the headline keys
        };
        return v;
    }

    /// <summary>
    /// TorchSharp tensor handles created per decode step (prompt excluded): every op that returns a new tensor makes
    /// one, so it counts the ops (and P/Invoke calls) the host issues per token; in-place ops are not counted.
    /// </summary>
    internal static double TensorsPerDecodeStep(Engine.Model.Gemma3ForConditionalGeneration model, Tensor ids, Tensor pixels, Tensor mask, Tensor types, GenerationOptions options)
    {
        using var g = new TokenGenerator(model, ids, pixels, mask, types, options);
        g.GenerateNextToken();
        var steps = Math.Min(8, options.MaxNewTokens - 1);
        if (steps <= 0) return double.NaN;
        var stats = DisposeScopeManager.Statistics;
        var before = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
        for (var i = 0; i < steps; i++) g.GenerateNextToken();
        var after = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
        return (after - before) / (double)steps;
    }
}
