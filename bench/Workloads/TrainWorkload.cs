using MedGemma.Engine.Lora;
using MedGemma.Engine.Model;
using MedGemma.Engine.Training;
using TorchSharp;
using static TorchSharp.torch;
using static MedGemma.Bench.Workloads.BenchTiming;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// LoRA training steps as shared/reference/hf_bench.py measures them: r=16, alpha 32, dropout 0.05 on every
/// q_proj and v_proj (both towers, as PEFT matches them), AdamW lr 2e-4, 328-token samples (256 image tokens),
/// loss on the last 66 positions. Each step (forward, backward, AdamW, zero grad) is timed on its own, synchronised.
/// </summary>
public sealed class TrainWorkload : IWorkload
{
    public string Name => "train";
    public string Description => "LoRA r=16 q_proj,v_proj training steps: ms/step, samples/s, peak GPU memory (--size, --batches 1,4, --gradient-checkpointing)";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs a)
    {
        var device = ModelSizes.ResolveDevice(a, cpuDefault: false);
        var dtype = ModelSizes.ResolveDType(a, device);
        var size = a.Get("size") ?? (device.type == DeviceType.CUDA ? "full" : "tiny");
        var batches = (a.Get("batches") ?? "1,4").Split(',').Select(int.Parse).ToArray();
        var warmup = a.GetInt("warmup", device.type == DeviceType.CUDA ? 3 : 1);
        var repeat = a.GetInt("repeat", device.type == DeviceType.CUDA ? 8 : 5);
        // --checkpoint-towers text|vision: checkpoint one tower only (text = what --gradient-checkpointing did before the vision tower was covered)
        var towers = a.Get("checkpoint-towers") ?? "both";
        if (towers is not ("both" or "text" or "vision")) throw new ArgumentException($"--checkpoint-towers {towers}: text, vision or both.");
        var checkpointing = a.Has("gradient-checkpointing") || a.Has("checkpoint-towers");
        var fullLogits = a.Has("full-logits"); // the lm_head on every position, as before LogitsOnLabelsOnly (for comparison)
        var tag = checkpointing ? "_gradckpt" : "";
        var config = ModelSizes.Config(size);
        using var memory = device.type == DeviceType.CUDA ? new GpuMemoryMonitor() : null;
        using var model = ModelSizes.Build(config, device, dtype);
        model.GradientCheckpointing = checkpointing && towers != "text"; // the decoder layers and the vision encoder layers
        if (checkpointing) model.Model.LanguageModel.GradientCheckpointing = towers != "vision";
        var lora = new LoraModel(model);
        var targets = lora.AddAdapter("default", new LoraConfig { R = 16, Alpha = 32, Dropout = 0.05, TargetModules = new[] { "q_proj", "v_proj" } });
        var parameters = lora.Parameters("default");
        using var optimizer = new AdamW(parameters, lr: 2e-4);
        model.train();
        Console.WriteLine($"   size {size}, {dtype} on {device}, attention kernel {Engine.Text.Gemma3Attention.DefaultKernel}, gradient checkpointing {(checkpointing ? towers : "off")}, logits on {(fullLogits ? "every position" : "labelled positions")}; LoRA on {targets.Count} modules, {parameters.Sum(p => p.Parameter.numel()) / 1e6:F3} M trainable; {warmup} warm-up + {repeat} timed steps (median)");
        Console.WriteLine($"   {"batch",5} {"tokens",6} {"ms/step",9} {"samples/s",10} {"loss",8} {"peak GPU",10} {"RSS before",11} {"peak RSS",10} {"tensors/step",13}");
        foreach (var b in batches)
        {
            using var scope = torch.NewDisposeScope();
            var (ids, hostMask, types, pixels) = ModelSizes.Batch(config, b, 64, device, dtype);
            var mask = hostMask.to(device);   // the loss masks labels on the device, as the trainer's collated batches are
            var labels = ids.clone();
            var promptPositions = ids.shape[1] - 66; // hf_bench.py: labels[:, :262] = -100 for its 328-token sample
            labels.narrow(1, 0, promptPositions).fill_(-100);
            float lastLoss = float.NaN;
            // --phases (CPU, where ops run synchronously): forward / backward / optimizer times and the resident size
            // after the forward (the activations kept for backward) vs the step's peak.
            var phases = new List<(double Forward, double Backward, double Optimizer, long RssAfterForward)>();
            void Step()
            {
                using var s = torch.NewDisposeScope();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                using var output = model.Forward(new Gemma3Inputs { InputIds = ids, PixelValues = pixels, AttentionMask = mask, TokenTypeIds = types, Labels = labels, LogitsOnLabelsOnly = !fullLogits });
                var forward = watch.Elapsed.TotalSeconds;
                var rssAfterForward = a.Has("phases") ? HostMemory.CurrentBytes() : -1;
                output.Loss!.backward();
                var backward = watch.Elapsed.TotalSeconds;
                optimizer.Step();
                optimizer.ZeroGrad();
                if (a.Has("phases")) phases.Add((forward, backward - forward, watch.Elapsed.TotalSeconds - backward, rssAfterForward));
                lastLoss = float.NaN;
                if (!a.Has("no-loss-readback")) lastLoss = output.Loss.item<float>();
            }
            for (var i = 0; i < warmup; i++) Step();
            phases.Clear();
            memory?.Reset();
            GC.Collect();
            var rssBefore = HostMemory.ResetPeak();
            var times = new List<double>();
            for (var i = 0; i < repeat; i++) times.Add(Time(device, Step));
            // TorchSharp tensor handles made by one step: the ops the host issues from C# (forward, loss, optimizer;
            // backward runs inside libtorch and is not counted).
            var stats = DisposeScopeManager.Statistics;
            var handlesBefore = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
            Step();
            var handles = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - handlesBefore;
            var step = Median(times);
            var peak = memory?.PeakBytes ?? -1;
            var peakRss = HostMemory.PeakBytes();
            Console.WriteLine($"   {b,5} {ids.shape[1],6} {step * 1e3,9:F1} {b / step,10:F3} {lastLoss,8:F3} {Gib(peak),10} {Gib(rssBefore),11} {Gib(peakRss),10} {handles,13}");
            if (phases.Count > 0)
                Console.WriteLine($"   {"",5} phases (median): forward {Median(phases.Select(p => p.Forward).ToList()) * 1e3:F0} ms, backward {Median(phases.Select(p => p.Backward).ToList()) * 1e3:F0} ms, optimizer {Median(phases.Select(p => p.Optimizer).ToList()) * 1e3:F1} ms; RSS after forward {Gib(phases.Max(p => p.RssAfterForward))}");
            BenchReport.Record(a, $"train_b{b}{tag}_step_ms", step * 1e3);
            BenchReport.Record(a, $"train_b{b}{tag}_samples_per_s", b / step);
            if (peak >= 0) BenchReport.Record(a, $"train_b{b}{tag}_peak_gib", peak / (double)(1L << 30));
            BenchReport.Record(a, $"train_b{b}{tag}_tensors_per_step", handles);
            if (device.type == DeviceType.CPU && peakRss >= 0) BenchReport.Record(a, $"train_b{b}{tag}_peak_rss_gib", peakRss / (double)(1L << 30));
            if (a.Has("vision-alone")) VisionAlone(a, device, model, optimizer, pixels, b, tag, warmup, repeat);
        }
        return 0;
    }

    /// <summary>
    /// --vision-alone: the image half of a step by itself, as bench/device/train_profile.py times the reference's: the
    /// vision tower's forward with gradients (LoRA on its q/v), and that forward plus the backward of its features' sum.
    /// </summary>
    static void VisionAlone(BenchArgs a, Device device, Gemma3ForConditionalGeneration model, AdamW optimizer, Tensor pixels, int b, string tag, int warmup, int repeat)
    {
        double Run(bool backward)
        {
            void Once()
            {
                using var s = torch.NewDisposeScope();
                var features = model.Model.GetImageFeatures(pixels);
                if (backward) features.to(ScalarType.Float32).sum().backward();
            }
            for (var i = 0; i < warmup; i++) Once();
            var times = new List<double>();
            for (var i = 0; i < repeat; i++) times.Add(Time(device, Once));
            return Median(times);
        }
        var forward = Run(backward: false);
        var both = Run(backward: true);
        optimizer.ZeroGrad();
        Console.WriteLine($"   {"",5} vision tower alone (median): forward {forward * 1e3:F1} ms, forward + backward {both * 1e3:F1} ms");
        BenchReport.Record(a, $"train_b{b}{tag}_vision_forward_ms", forward * 1e3);
        BenchReport.Record(a, $"train_b{b}{tag}_vision_fwdbwd_ms", both * 1e3);
    }
}
