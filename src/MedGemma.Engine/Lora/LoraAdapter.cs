using MedGemma.Engine.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Lora;

/// <summary>
/// A PEFT LoRA adapter on disk: adapter_config.json + adapter_model.safetensors. Weights are held on
/// the CPU in float32 under transformers-5 module paths, whichever layout the file used.
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    public const string WeightsFileName = "adapter_model.safetensors";

    public LoraConfig Config { get; }
    /// <summary>Module path → (lora_A [r, in], lora_B [out, r]).</summary>
    public IReadOnlyDictionary<string, (Tensor A, Tensor B)> Weights { get; }
    /// <summary>The folder it was loaded from, or null.</summary>
    public string? Source { get; }

    public LoraAdapter(LoraConfig config, IReadOnlyDictionary<string, (Tensor A, Tensor B)> weights, string? source = null)
    {
        Config = config;
        Weights = weights;
        Source = source;
    }

    /// <summary>Reads a PEFT adapter folder (either module-key layout).</summary>
    public static LoraAdapter Load(string folder)
    {
        var full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound", $"Adapter folder not found: {full}", full);
        var config = AdapterConfigFile.Read(Path.Combine(full, AdapterConfigFile.FileName));
        var weightsPath = Path.Combine(full, WeightsFileName);
        if (!File.Exists(weightsPath))
        {
            var bin = Path.Combine(full, "adapter_model.bin");
            throw File.Exists(bin)
                ? new MedGemmaException(MedGemmaErrorKind.NotSupported, "PickleAdapterNotSupported",
                    $"{bin} is a pickle file; convert it to {WeightsFileName} (PEFT: save_pretrained(..., safe_serialization=True)).", bin)
                : new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterWeightsNotFound", $"Adapter weights not found: {weightsPath}", weightsPath);
        }
        return new LoraAdapter(config, ReadWeights(weightsPath), full);
    }

    public static Dictionary<string, (Tensor A, Tensor B)> ReadWeights(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        var a = new Dictionary<string, Tensor>();
        var b = new Dictionary<string, Tensor>();
        foreach (var key in file.Names)
        {
            var (module, part) = AdapterKeys.Parse(key);
            var target = part == "lora_A" ? a : b;
            if (target.ContainsKey(module))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DuplicateAdapterTensor",
                    $"Adapter {path} has two '{part}' tensors for '{module}' (mixed key layouts?).", key);
            target[module] = file.Read(key, CPU, float32);
        }
        var result = new Dictionary<string, (Tensor, Tensor)>();
        foreach (var module in a.Keys.Union(b.Keys))
        {
            if (!a.TryGetValue(module, out var ta) || !b.TryGetValue(module, out var tb))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "IncompleteAdapterTensor",
                    $"Adapter {path} has only one of lora_A/lora_B for '{module}'.", module);
            if (ta.dim() != 2 || tb.dim() != 2 || ta.shape[0] != tb.shape[1])
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "AdapterShapeMismatch",
                    $"Adapter {path}: lora_A [{string.Join(",", ta.shape)}] and lora_B [{string.Join(",", tb.shape)}] of '{module}' do not form a low-rank pair.", module);
            result[module] = (ta, tb);
        }
        return result;
    }

    /// <summary>Writes the folder as PEFT's save_pretrained does (transformers-5 key layout), each file atomically.</summary>
    public void Save(string folder) => Save(folder, Config, Weights);

    public static void Save(string folder, LoraConfig config, IReadOnlyDictionary<string, (Tensor A, Tensor B)> weights)
    {
        Directory.CreateDirectory(folder);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (module, (a, b)) in weights)
        {
            tensors.Add(new(AdapterKeys.Format(module, "lora_A"), a));
            tensors.Add(new(AdapterKeys.Format(module, "lora_B"), b));
        }
        SafeTensorsWriter.Write(Path.Combine(folder, WeightsFileName), tensors);
        AdapterConfigFile.Write(Path.Combine(folder, AdapterConfigFile.FileName), config);
    }

    /// <summary>Injects this adapter into <paramref name="lora"/>'s model under <paramref name="name"/> and loads its weights.</summary>
    public void AttachTo(LoraModel lora, string name)
    {
        lora.AddAdapter(name, Config);
        try { lora.LoadWeights(name, Weights, Source ?? name); }
        catch { lora.RemoveAdapter(name); throw; }
    }

    /// <summary>The adapter currently in <paramref name="lora"/> under <paramref name="name"/>, copied to the CPU.</summary>
    public static LoraAdapter FromModel(LoraModel lora, string name) => new(lora.Config(name), lora.ExportWeights(name));

    public void Dispose()
    {
        foreach (var (a, b) in Weights.Values) { a.Dispose(); b.Dispose(); }
    }
}
