using MedGemma.Engine.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Lora;

/// <summary>
/// The LoRA layer of PEFT's LoraModel over any module tree: injects adapters by target name, loads and
/// exports their weights, switches the one active adapter, merges and unmerges. Module paths are those
/// of the root's named_modules (transformers-5 names for Gemma3ForConditionalGeneration).
/// </summary>
public sealed class LoraModel
{
    readonly nn.Module root;
    readonly Dictionary<string, LoraConfig> configs = new();
    readonly Dictionary<string, List<string>> adaptedPaths = new();

    public LoraModel(nn.Module root) => this.root = root;

    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<nn.Module, LoraModel> PerModel = new();

    /// <summary>The one LoRA layer of a loaded model (created on first use), so adapters attached by one call are seen by the next.</summary>
    public static LoraModel Of(Model.MedGemmaModel model) => PerModel.GetValue(model.Network, n => new LoraModel(n));

    /// <summary>Loads a PEFT adapter folder and attaches it under <paramref name="name"/>; it becomes active when it is the first.</summary>
    public IReadOnlyList<string> Attach(string adapterFolder, string name)
    {
        using var adapter = LoraAdapter.Load(adapterFolder);
        adapter.AttachTo(this, name);
        return AdaptedModules(name);
    }

    /// <summary>Writes an attached adapter as a PEFT folder (transformers-5 key layout).</summary>
    public void Save(string name, string folder)
    {
        using var adapter = LoraAdapter.FromModel(this, name);
        adapter.Save(folder);
    }

    public nn.Module Root => root;
    public IReadOnlyCollection<string> Adapters => configs.Keys;
    public string? ActiveAdapter { get; private set; }
    public bool Merged => Layers().Any(l => l.layer.Merged);
    public LoraConfig Config(string adapter) => configs.TryGetValue(adapter, out var c) ? c : throw NoAdapter(adapter);
    public IReadOnlyList<string> AdaptedModules(string adapter) => adaptedPaths.TryGetValue(adapter, out var p) ? p : throw NoAdapter(adapter);

    /// <summary>Wraps every target Linear (PEFT inject_adapter) with fresh weights; returns their paths.</summary>
    public IReadOnlyList<string> AddAdapter(string name, LoraConfig config)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('.'))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "BadAdapterName", $"Adapter name '{name}' must be non-empty and contain no '.'.", name);
        if (configs.ContainsKey(name))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "AdapterExists", $"An adapter named '{name}' is already attached.", name);
        config.Validate(name);
        if (Merged) UnmergeAll();

        var targets = new List<(string path, nn.Module module)>();
        var loraPrefixes = new List<string>();
        foreach (var (path, module) in root.named_modules())
        {
            if (path.Length == 0) continue;
            if (loraPrefixes.Any(p => path.StartsWith(p, StringComparison.Ordinal))) continue; // inside a LoRA wrapper
            if (module is LoraLinear) loraPrefixes.Add(path + ".");
            if (TargetMatcher.IsTarget(config, path)) targets.Add((path, module));
        }
        if (targets.Count == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "LoraTargetsNotFound",
                $"Target modules {Describe(config)} not found in the base model.", Describe(config));

        var paths = new List<string>();
        foreach (var (path, module) in targets)
        {
            var layer = module switch
            {
                LoraLinear l => l,
                Linear linear => Wrap(path, linear),
                _ => throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedLoraTarget",
                    $"Target module '{path}' ({module.GetType().Name}) is not supported: LoRA wraps Linear layers only.", path),
            };
            layer.AddAdapter(name, config);
            paths.Add(path);
        }
        configs[name] = config;
        adaptedPaths[name] = paths;
        // PEFT's mark_only_lora_as_trainable (bias "none"): the whole base model is frozen.
        foreach (var (pname, p) in root.named_parameters())
            if (!pname.Contains(".lora_A.") && !pname.Contains(".lora_B.")) p.requires_grad = false;
        SetActive(ActiveAdapter ?? name);
        return paths;
    }

    LoraLinear Wrap(string path, Linear linear)
    {
        var wrapped = new LoraLinear(linear);
        if (!linear.training) wrapped.eval();
        ModuleTree.Replace(root, path, wrapped);
        return wrapped;
    }

    /// <summary>Copies an adapter's A/B weights in (strict: every adapted module, nothing else, exact shapes).</summary>
    public void LoadWeights(string name, IReadOnlyDictionary<string, (Tensor A, Tensor B)> weights, string source)
    {
        var paths = AdaptedModules(name);
        foreach (var key in weights.Keys)
            if (!paths.Contains(key))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "UnexpectedAdapterTensor",
                    $"Adapter {source} has weights for '{key}', which its target_modules do not select in this model.", key);
        using var _ = no_grad();
        foreach (var path in paths)
        {
            if (!weights.TryGetValue(path, out var w))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "MissingAdapterTensor",
                    $"Adapter {source} has no lora_A/lora_B weights for '{path}'.", path);
            var layer = (LoraLinear)ModuleTree.Get(root, path);
            Copy(layer.LoraA(name).weight!, w.A, AdapterKeys.Format(path, "lora_A"), source);
            Copy(layer.LoraB(name).weight!, w.B, AdapterKeys.Format(path, "lora_B"), source);
        }
    }

    static void Copy(Tensor target, Tensor value, string key, string source)
    {
        if (!target.shape.SequenceEqual(value.shape))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "AdapterShapeMismatch",
                $"Adapter {source}: '{key}' has shape [{string.Join(",", value.shape)}], the model needs [{string.Join(",", target.shape)}] (wrong rank or base model?).", key);
        target.copy_(value);
    }

    /// <summary>The adapter's weights under module paths (clones on the CPU, float32).</summary>
    public Dictionary<string, (Tensor A, Tensor B)> ExportWeights(string name)
    {
        var result = new Dictionary<string, (Tensor A, Tensor B)>();
        foreach (var path in AdaptedModules(name))
        {
            var layer = (LoraLinear)ModuleTree.Get(root, path);
            result[path] = (layer.LoraA(name).weight!.detach().to(float32, CPU).clone(), layer.LoraB(name).weight!.detach().to(float32, CPU).clone());
        }
        return result;
    }

    /// <summary>The adapter's parameters named as PEFT names them in memory ("…q_proj.lora_A.default.weight").</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters(string name)
    {
        var list = new List<(string, Parameter)>();
        foreach (var path in AdaptedModules(name))
        {
            var layer = (LoraLinear)ModuleTree.Get(root, path);
            list.Add((AdapterKeys.ParameterName(path, "lora_A", name), layer.LoraA(name).weight!));
            list.Add((AdapterKeys.ParameterName(path, "lora_B", name), layer.LoraB(name).weight!));
        }
        return list;
    }

    /// <summary>Makes one adapter (or none) active everywhere; merged weights are unmerged first, as PEFT does.</summary>
    public void SetActive(string? name)
    {
        if (name != null && !configs.ContainsKey(name)) throw NoAdapter(name);
        if (name != ActiveAdapter && Merged) UnmergeAll();
        foreach (var (_, layer) in Layers()) layer.SetActive(name);
        ActiveAdapter = name;
    }

    /// <summary>Adds the active adapter into the base weights (forward then costs nothing extra).</summary>
    public void Merge()
    {
        if (ActiveAdapter == null)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "NoActiveAdapter", "No adapter is active, so there is nothing to merge.");
        foreach (var (_, layer) in Layers()) layer.Merge();
    }

    public void UnmergeAll()
    {
        foreach (var (_, layer) in Layers()) layer.Unmerge();
    }

    public void RemoveAdapter(string name)
    {
        if (!configs.ContainsKey(name)) throw NoAdapter(name);
        foreach (var (_, layer) in Layers()) if (layer.Adapters.Contains(name)) layer.RemoveAdapter(name);
        configs.Remove(name);
        adaptedPaths.Remove(name);
        if (ActiveAdapter == name) SetActive(configs.Keys.FirstOrDefault());
    }

    IEnumerable<(string path, LoraLinear layer)> Layers() =>
        root.named_modules().Where(m => m.module is LoraLinear).Select(m => (m.name, (LoraLinear)m.module));

    static string Describe(LoraConfig c) => c.TargetRegex ?? "{" + string.Join(", ", c.TargetModules) + "}";

    static MedGemmaException NoAdapter(string name) =>
        new(MedGemmaErrorKind.NotFound, "AdapterNotFound", $"No adapter named '{name}' is attached.", name);
}
