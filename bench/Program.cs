using MedGemma.Bench;
using MedGemma.Bench.Workloads;

// Benchmarks, not tests: each workload prints its numbers (record them in bench/RESULTS.md).
//   dotnet run -c Release --project bench/MedGemma.Bench.csproj -- <workload> [--option value ...]
//   dotnet run -c Release --project bench/MedGemma.Bench.csproj -- --cpu      (every workload that runs on a CPU)
// To add a workload (caption, train, load...): implement IWorkload in Workloads/ and list it here.
IWorkload[] workloads =
[
    new TokenizerWorkload(),
    new CaptionWorkload(),
    new TrainWorkload(),
    new LoadWorkload(),
    new DicomWorkload(),
    new OpsWorkload(),
    new GraphProbeWorkload(),
    new CaptionFilesWorkload(),
];

var options = BenchArgs.Parse(args);
if (options.Has("help") || options.Positional.FirstOrDefault() is "help")
{
    Console.WriteLine("Workloads:");
    foreach (var w in workloads) Console.WriteLine($"  {w.Name,-12} {w.Description}");
    Console.WriteLine("Common options: --cpu (run every CPU workload), --repeat N, --warmup N, --size full|deep|mid|tiny, --device cpu|cuda, --dtype bf16|fp32, --kernel auto|eager|sdpa, --fused-norm on|off, --scripted-decode on|off (defaults: fused norm on CUDA only, scripted decode on), --decode-mode auto|host|device|graph (auto: graphs on CUDA), --json PATH (merge the headline numbers into PATH)");
    return 0;
}

var selected = options.Positional.Count == 0
    ? workloads.Where(w => !options.Has("cpu") || w.RunsOnCpu).ToList()
    : options.Positional.Select(name => workloads.FirstOrDefault(w => w.Name == name)
        ?? throw new ArgumentException($"Unknown workload '{name}'. Known: {string.Join(", ", workloads.Select(w => w.Name))}")).ToList();

// --kernel auto|eager|sdpa: the attention kernel of both towers (default: the engine's own default).
if (options.Get("kernel") is { } kernel)
    MedGemma.Engine.Text.Gemma3Attention.DefaultKernel = Enum.Parse<MedGemma.Engine.Text.AttentionKernel>(kernel, ignoreCase: true);

// --fused-norm on|off: RMSNorm through libtorch's fused rms_norm, inference and training (Text/FusedRmsNorm.cs);
// --scripted-decode on|off: each decoder layer's decode step as one TorchScript call (Text/DecodeLayerScript.cs).
// Unset, the engine's defaults hold (fused norm on CUDA only, scripted decode everywhere); set, caption rows record under their own keys.
if (OnOff("fused-norm") is { } fusedNorm) MedGemma.Engine.Text.Gemma3RMSNorm.DefaultFused = fusedNorm;
// --multi-tensor on|off: AdamW, clipping and zeroing over all LoRA tensors at once (Training/MultiTensor.cs; default on).
if (OnOff("multi-tensor") is { } multiTensor) MedGemma.Engine.Training.MultiTensor.DefaultEnabled = multiTensor;
if (OnOff("scripted-decode") is { } scripted) MedGemma.Engine.Text.Gemma3DecoderLayer.DefaultScriptedDecode = scripted;

// --decode-mode auto|host|device|graph: how TokenGenerator runs the steps after the prompt (Generation/DecodeStepMode.cs).
if (options.Get("decode-mode") is { } decodeMode)
    MedGemma.Engine.Generation.TokenGenerator.DefaultStepMode = decodeMode.ToLowerInvariant() switch
    {
        "auto" => MedGemma.Engine.Generation.DecodeStepMode.Auto,
        "host" => MedGemma.Engine.Generation.DecodeStepMode.Host,
        "device" => MedGemma.Engine.Generation.DecodeStepMode.Device,
        "graph" or "cudagraph" => MedGemma.Engine.Generation.DecodeStepMode.CudaGraph,
        _ => throw new ArgumentException($"--decode-mode takes auto, host, device or graph, not '{decodeMode}'."),
    };

bool? OnOff(string name) => options.Get(name) switch
{
    null => options.Has(name) ? true : null,
    "on" or "true" or "1" => true,
    "off" or "false" or "0" => false,
    var v => throw new ArgumentException($"--{name} takes on or off, not '{v}'."),
};

var exit = 0;
foreach (var w in selected)
{
    Console.WriteLine($"== {w.Name}: {w.Description}");
    Console.WriteLine($"   machine: {Environment.ProcessorCount} logical CPUs, {Environment.OSVersion}, .NET {Environment.Version}");
    exit |= w.Run(options);
}
return exit;
