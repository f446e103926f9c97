using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Host cost per op: what one TorchSharp call costs (out of place, in place, a view), our 4-op Gemma RMSNorm, and the
/// same through TorchScript (<c>torch.jit.compile</c>, which reaches libtorch ops TorchSharp 0.107 does not bind, such
/// as the fused <c>rms_norm</c>). Batch-1 decode issues ~2,600 such calls per token, so these numbers decide which
/// levers are worth it. On CUDA the timing covers issuing the calls plus draining the queue once at the end.
/// </summary>
public sealed class OpsWorkload : IWorkload
{
    public string Name => "ops";
    public string Description => "host cost per op: TorchSharp calls, RMSNorm, TorchScript invoke, SDPA masks (--width 64, --calls 20000, --keys 344)";
    public bool RunsOnCpu => true;

    const string Script = @"
def rms_norm_fused(x: Tensor, w1: Tensor, eps: float) -> Tensor:
    return torch.rms_norm(x.float(), [x.shape[-1]], w1, eps).to(x.dtype)

def rms_norm_ops(x: Tensor, w: Tensor, eps: float) -> Tensor:
    xf = x.float()
    n = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (n * (1.0 + w.float())).to(x.dtype)

def chain40(x: Tensor, s: float) -> Tensor:
    y = x
    for i in range(40):
        y = y * s
    return y
";

    public int Run(BenchArgs a)
    {
        var device = ModelSizes.ResolveDevice(a, cpuDefault: false);
        var dtype = ModelSizes.ResolveDType(a, device);
        var width = a.GetInt("width", 64);
        var calls = a.GetInt("calls", 20000);
        var repeat = a.GetInt("repeat", 3);
        Console.WriteLine($"   {dtype} on {device}, x = [1, 1, {width}], {calls} calls per row, median of {repeat}; µs per call");

        using var x = torch.randn(new long[] { 1, 1, width }, dtype: dtype, device: device);
        using var w = (torch.randn(width, device: device) * 0.1).to(dtype);
        using var w1 = (w.to(ScalarType.Float32) + 1.0);
        using var unit = torch.ones_like(x);
        using Scalar factor = 1.0001, eps = 1e-6, one = 1.0;
        using var unit32 = torch.ones(new long[] { 1, 1, width }, device: device);
        var cu = torch.jit.compile(Script);

        // One decode step's attention as MedGemma's decoder issues it: 4 kv heads, 2 query rows each, against a
        // preallocated cache of 344 positions (hf_bench.py's 280-token prompt + 64), under a mask of the written ones.
        var headDim = Math.Min(width, 256);
        var keys = a.GetInt("keys", 344);
        using var q = torch.randn(new long[] { 1, 4, 2, headDim }, dtype: dtype, device: device);
        using var kv = torch.randn(new long[] { 1, 4, keys, headDim }, dtype: dtype, device: device);
        using var boolMask = torch.arange(keys, device: device).lt(keys - 7).view(1, 1, 1, keys);
        using var additiveMask = MedGemma.Engine.Text.AttentionMasks.Additive(boolMask, dtype)!;
        using var additiveDense = additiveMask.contiguous();

        double PerCall(int n, Action body)
        {
            var runs = new List<double>();
            for (var r = 0; r < repeat + 1; r++)
            {
                var seconds = BenchTiming.Time(device, () => { for (var i = 0; i < n; i++) body(); });
                if (r > 0) runs.Add(seconds * 1e6 / n);   // the first pass warms up
            }
            return BenchTiming.Median(runs);
        }

        var rows = new List<(string Name, double Micros)>
        {
            ("x * s (out of place)", PerCall(calls, () => { using var y = x * factor; })),
            ("y.mul_(s) (in place)", PerCall(calls, () => unit.mul_(one))),
            ("x.view(...)", PerCall(calls, () => { using var v = x.view(1, width); })),
            ("RMSNorm, 4-op TorchSharp (engine's)", PerCall(calls, () =>
            {
                using var scope = torch.NewDisposeScope();
                var xf = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
                var inv = xf.pow(2).mean(new long[] { -1 }, keepdim: true).add_(eps).rsqrt_();
                var n = xf * inv;
                var o = torch.addcmul(n, n, w, one);
                if (o.dtype != x.dtype) o.to(x.dtype);
            })),
            ("RMSNorm, TorchScript fused rms_norm", PerCall(calls, () => { using var r = (Tensor)cu.invoke("rms_norm_fused", x, w1, 1e-6); })),
            ("RMSNorm, TorchScript 8 ops", PerCall(calls, () => { using var r = (Tensor)cu.invoke("rms_norm_ops", x, w, 1e-6); })),
            ($"SDPA, one token, {keys} keys, boolean mask", PerCall(calls / 4, () => { using var o = nn.functional.scaled_dot_product_attention(q, kv, kv, boolMask, 0.0, false); })),
            ($"SDPA, one token, {keys} keys, additive mask", PerCall(calls / 4, () => { using var o = nn.functional.scaled_dot_product_attention(q, kv, kv, additiveMask, 0.0, false); })),
            ($"SDPA, one token, {keys} keys, additive, unpadded", PerCall(calls / 4, () => { using var o = nn.functional.scaled_dot_product_attention(q, kv, kv, additiveDense, 0.0, false); })),
            ("40 muls, TorchSharp (per mul)", PerCall(calls / 20, () =>
            {
                using var scope = torch.NewDisposeScope();
                var y = unit32;
                for (var k = 0; k < 40; k++) y = y * factor;
            }) / 40),
            ("40 muls, one TorchScript invoke (per mul)", PerCall(calls / 20, () => { using var r = (Tensor)cu.invoke("chain40", unit32, 1.0001); }) / 40),
        };
        foreach (var (name, micros) in rows)
        {
            Console.WriteLine($"   {name,-44} {micros,8:F2}");
            BenchReport.Record(a, "ops_" + new string(name.Where(char.IsLetterOrDigit).ToArray()).ToLowerInvariant() + "_us", micros);
        }
        return 0;
    }
}
