using System.Diagnostics;
using MedGemma.Engine.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Where CUDA-graph decoding breaks, when it does: the decode step is recorded in stages of growing size (one
/// elementwise op, a bf16 GEMV, SDPA under an additive mask, a cache write at a device-held slot, a TorchScript call,
/// then a whole generation of a small model), each captured, replayed after its inputs changed in place, and compared
/// with the same step run plainly. The caption row only says that graphs fell back and why; this says whether the
/// binding works at all and which kind of op the capture cannot take, in one device call. On a CPU it runs the same
/// stages through an emulated recording (the step rerun at replay), which checks the probe, not CUDA.
/// </summary>
public sealed class GraphProbeWorkload : IWorkload
{
    public string Name => "graph-probe";
    public string Description => "CUDA graph capture in stages (elementwise, GEMV, SDPA, cache write, TorchScript, a small model's generation): which one fails";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs a)
    {
        var device = ModelSizes.ResolveDevice(a, cpuDefault: false);
        var dtype = ModelSizes.ResolveDType(a, device);
        var width = a.GetInt("width", device.type == DeviceType.CUDA ? 2560 : 256);
        var size = a.Get("size") ?? (device.type == DeviceType.CUDA ? "mid" : "tiny");
        var emulate = device.type != DeviceType.CUDA;
        var repeat = a.GetInt("repeat", 200);
        Console.WriteLine($"   {dtype} on {device}, width {width}; " + (emulate
            ? "no CUDA device: graphs EMULATED (each replay reruns the step), which tests this probe, not CUDA"
            : $"libtorch CUDA graphs: {CudaGraphBindingState()}"));
        Console.WriteLine($"   {"stage",-38} {"result",-8} {"max |Δ|",10} {"plain µs",9} {"replay µs",10}");

        var stages = new List<(string Name, Func<Stage> Make)>
        {
            ("elementwise (x * 2 + 1)", () => Elementwise(device, dtype)),
            ($"linear [1, {width}] x [{width}, {width}]", () => Linear(device, dtype, width)),
            ("SDPA, additive mask, 344 keys", () => Sdpa(device, dtype)),
            ("index_copy_ at a device slot", () => CacheWrite(device, dtype)),
            ("TorchScript call (rms_norm, gelu)", () => Script(device, dtype)),
        };
        var ok = 0;
        foreach (var (name, make) in stages)
        {
            var (passed, line) = RunStage(name, make, device, emulate, repeat);
            Console.WriteLine(line);
            if (passed) ok++;
        }
        var (generationPassed, generationLine) = Generation(size, device, dtype, emulate);
        Console.WriteLine(generationLine);
        if (generationPassed) ok++;
        BenchReport.Record(a, "graph_probe_stages_passed", ok);
        BenchReport.Record(a, "graph_probe_stages", stages.Count + 1);
        Console.WriteLine($"   {ok} of {stages.Count + 1} stages captured and replayed correctly" + (emulate ? " (emulated)" : ""));
        return 0;
    }

    static string CudaGraphBindingState() => Engine.Runtime.CudaGraph.Unavailable is { } why ? $"UNAVAILABLE: {why}" : "entry points found";

    /// <summary>
    /// One stage: the step reads <see cref="Inputs"/> (device tensors the probe rewrites in place between capture and
    /// replay, as the generator rewrites the fed ids) and returns a fresh tensor.
    /// </summary>
    sealed record Stage(Func<Tensor> Step, Action ChangeInputs, IDisposable Owned, int WarmUps = 3);

    static (bool, string) RunStage(string name, Func<Stage> make, Device device, bool emulate, int repeat)
    {
        Stage? stage = null;
        IStepGraph? graph = null;
        var phase = "setup";
        try
        {
            stage = make();
            phase = "graph";
            graph = MakeGraph(device, "probe|" + name, emulate);
            phase = "warm-up";
            for (var i = 0; i < stage.WarmUps; i++) graph.WarmUp(stage.Step).Dispose();
            phase = "capture";
            graph.Capture(stage.Step);
            phase = "replay";
            stage.ChangeInputs();
            graph.Replay();
            BenchTiming.Sync(device);
            using var replayed = graph.Output.to(ScalarType.Float32);
            phase = "plain step";
            using var plainStep = stage.Step();
            using var plain = plainStep.to(ScalarType.Float32);
            using var diffTensor = (replayed - plain).abs().max();
            using var scaleTensor = plain.abs().max();
            var diff = diffTensor.item<float>();
            var scale = scaleTensor.item<float>();
            var passed = diff <= TokenGenerator.ReplayTolerance * scale + 1e-6;
            phase = "timing";
            var plainMicros = PerCall(device, repeat, () => stage.Step().Dispose());
            var replayMicros = PerCall(device, repeat, graph.Replay);
            return (passed, $"   {name,-38} {(passed ? "ok" : "WRONG"),-8} {diff,10:G3} {plainMicros,9:F1} {replayMicros,10:F1}" + (passed ? "" : $"  (max |plain| {scale:G3})"));
        }
        catch (Exception e)
        {
            return (false, $"   {name,-38} {"FAILED",-8} at {phase}: {e.GetType().Name}: {FirstLine(e.Message)}");
        }
        finally
        {
            graph?.Dispose();
            stage?.Owned.Dispose();
        }
    }

    static IStepGraph MakeGraph(Device device, string shape, bool emulate)
    {
        if (emulate) return new EmulatedGraph();
        return CudaStepGraph.TryCreate(device, shape, out var why) ?? throw new InvalidOperationException(why ?? "no CUDA graph");
    }

    /// <summary>
    /// A whole greedy generation of a small model with graph steps, the path captioning takes, against device steps
    /// (the same kernels run plainly, so the tokens should be equal) and host steps (another attention extent, so a
    /// near-tie of random weights may part them: reported, not judged).
    /// </summary>
    static (bool, string) Generation(string size, Device device, ScalarType dtype, bool emulate)
    {
        var name = $"generation, size {size}, B1, 16 tokens";
        var previousFactory = TokenGenerator.GraphFactory;
        try
        {
            var config = ModelSizes.Config(size);
            using var model = ModelSizes.Build(config, device, dtype);
            using var scope = torch.NewDisposeScope();
            var (ids, mask, types, pixels) = ModelSizes.Batch(config, 1, 16, device, dtype);
            var options = new GenerationOptions { MaxNewTokens = 16, EosTokenIds = new long[] { -1 }, PadTokenId = 0 };
            long[][] Generate(DecodeStepMode mode, out string? fallback)
            {
                TokenGenerator.StepMode = mode;
                using var g = new TokenGenerator(model, ids, pixels, mask, types, options);
                var tokens = g.Run();
                fallback = g.GraphFallbackReason;
                return tokens;
            }
            if (emulate) TokenGenerator.GraphFactory = _ => new EmulatedGraph();
            var host = Generate(DecodeStepMode.Host, out _);
            var plain = Generate(DecodeStepMode.Device, out _);
            // Twice: the first proves the step shape (warm-up, capture, checked first replay), the second captures at once.
            Generate(DecodeStepMode.CudaGraph, out var firstFallback);
            var graphed = Generate(DecodeStepMode.CudaGraph, out var fallback);
            fallback ??= firstFallback;
            int Agreeing(long[][] other) => graphed[0].Zip(other[0]).TakeWhile(p => p.First == p.Second).Count();
            var same = Agreeing(plain);
            var passed = fallback is null && same == options.MaxNewTokens;
            var detail = fallback is not null ? $"graphs fell back: {fallback}"
                : $"tokens equal to device steps' for the first {same} of {options.MaxNewTokens} (host steps': {Agreeing(host)})";
            return (passed, $"   {name,-38} {(passed ? "ok" : fallback is null ? "WRONG" : "FAILED"),-8} {detail}");
        }
        catch (Exception e)
        {
            return (false, $"   {name,-38} {"FAILED",-8} {e.GetType().Name}: {FirstLine(e.Message)}");
        }
        finally
        {
            TokenGenerator.StepMode = TokenGenerator.DefaultStepMode;
            TokenGenerator.GraphFactory = previousFactory;
        }
    }

    static Stage Elementwise(Device device, ScalarType dtype)
    {
        var x = torch.randn(4096, dtype: dtype, device: device);
        return new Stage(() => (x * 2).add_(1), () => x.normal_(), x);
    }

    static Stage Linear(Device device, ScalarType dtype, int width)
    {
        var x = torch.randn(new long[] { 1, 1, width }, dtype: dtype, device: device);
        var w = (torch.randn(new long[] { width, width }, device: device) / Math.Sqrt(width)).to(dtype);
        return new Stage(() => nn.functional.linear(x, w), () => x.normal_(), new Owner(x, w));
    }

    static Stage Sdpa(Device device, ScalarType dtype)
    {
        // MedGemma's decode step: 4 kv heads with 2 query rows each, 344 cache positions of which the last 7 are unwritten.
        const int keys = 344, headDim = 256;
        var q = torch.randn(new long[] { 1, 4, 2, headDim }, dtype: dtype, device: device);
        var k = torch.randn(new long[] { 1, 4, keys, headDim }, dtype: dtype, device: device);
        var v = torch.randn(new long[] { 1, 4, keys, headDim }, dtype: dtype, device: device);
        using var allowed = torch.arange(keys, device: device).lt(keys - 7).view(1, 1, 1, keys);
        var mask = Engine.Text.AttentionMasks.Additive(allowed, dtype)!;
        return new Stage(() => nn.functional.scaled_dot_product_attention(q, k, v, mask, 0.0, false),
            () => { q.normal_(); k.normal_(); }, new Owner(q, k, v, mask));
    }

    static Stage CacheWrite(Device device, ScalarType dtype)
    {
        // The slot lives on the device and moves between capture and replay: the replay must write where it points then.
        var cache = torch.zeros(new long[] { 1, 4, 64, 32 }, dtype: dtype, device: device);
        var row = torch.randn(new long[] { 1, 4, 1, 32 }, dtype: dtype, device: device);
        var slot = torch.tensor(new long[] { 3 }, device: device);
        return new Stage(() =>
        {
            cache.index_copy_(2, slot, row);
            return cache.sum(new long[] { 3 });
        }, () => { slot.fill_(17); row.normal_(); }, new Owner(cache, row, slot));
    }

    const string ScriptSource = @"
def probe(x: Tensor, w: Tensor, eps: float) -> Tensor:
    n = torch.rms_norm(x.float(), [x.shape[-1]], w.float() + 1.0, eps).to(x.dtype)
    return torch.gelu(n * 2.0, approximate='tanh') + x
";

    static Stage Script(Device device, ScalarType dtype)
    {
        var unit = torch.jit.compile(ScriptSource);
        var x = torch.randn(new long[] { 1, 1, 512 }, dtype: dtype, device: device);
        var w = (torch.randn(512, device: device) * 0.1).to(dtype);
        // More warm-ups than the others: TorchScript profiles its first calls, then optimises and fuses.
        return new Stage(() => (Tensor)unit.invoke("probe", x, w, 1e-6), () => x.normal_(), new Owner(x, w, unit), WarmUps: 5);
    }

    static double PerCall(Device device, int n, Action body)
    {
        body();
        var seconds = BenchTiming.Time(device, () => { for (var i = 0; i < n; i++) body(); });
        return seconds * 1e6 / n;
    }

    static string FirstLine(string s) => s.Split('\n')[0];

    sealed class Owner(params IDisposable[] owned) : IDisposable
    {
        public void Dispose()
        {
            foreach (var o in owned) o.Dispose();
        }
    }

    /// <summary>A recording emulated on the host: the step kept at capture and rerun at each replay into a fixed output.</summary>
    sealed class EmulatedGraph : IStepGraph
    {
        Func<Tensor>? step;
        Tensor? output;
        public bool Unproven { get; private set; } = true;
        public void MarkProven() => Unproven = false;
        public Tensor WarmUp(Func<Tensor> s) => s();
        public void Capture(Func<Tensor> s) => step = s;

        public void Replay()
        {
            using var scope = torch.NewDisposeScope();
            var r = step!();
            if (output is null) output = r.clone().DetachFromDisposeScope();
            else output.copy_(r);
        }

        public Tensor Output => output ?? throw new InvalidOperationException("No step was captured.");
        public void Dispose() => output?.Dispose();
    }
}
