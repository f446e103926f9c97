using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Lora;

/// <summary>
/// A Linear wrapped with LoRA adapters, laid out as PEFT's lora.Linear so parameter names match:
/// <c>base_layer.weight</c>, <c>lora_A.&lt;adapter&gt;.weight</c>, <c>lora_B.&lt;adapter&gt;.weight</c>.
/// y = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling, the LoRA branch computed in the adapter's
/// dtype (float32) and the sum cast back to the base output's dtype, as PEFT does.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    readonly Linear base_layer;
    readonly ModuleDict<nn.Module<Tensor, Tensor>> lora_A = new();
    readonly ModuleDict<nn.Module<Tensor, Tensor>> lora_B = new();
    readonly ModuleDict<nn.Module<Tensor, Tensor>> lora_dropout = new();
    readonly Dictionary<string, double> scaling = new();
    // TorchSharp frees a temporary Scalar from the finalizer thread, possibly while the native call still
    // reads it; a Scalar held in a field lives as long as the layer.
    readonly Dictionary<string, Scalar> scalingScalar = new();
    readonly List<string> mergedAdapters = new();

    public LoraLinear(Linear baseLayer) : base(nameof(LoraLinear))
    {
        base_layer = baseLayer;
        // Registered by hand (RegisterComponents is a no-op) so adapters added later are registered once.
        register_module("base_layer", base_layer);
        register_module("lora_A", lora_A);
        register_module("lora_B", lora_B);
        register_module("lora_dropout", lora_dropout);
        foreach (var p in base_layer.parameters()) p.requires_grad = false;
    }

    protected override void RegisterComponents() { }

    public Linear BaseLayer => base_layer;
    public long InFeatures => base_layer.weight!.shape[1];
    public long OutFeatures => base_layer.weight!.shape[0];
    public IReadOnlyCollection<string> Adapters => scaling.Keys;

    /// <summary>The adapter applied in forward, or null for the bare base layer.</summary>
    public string? ActiveAdapter { get; private set; }
    public bool Merged => mergedAdapters.Count > 0;

    public Linear LoraA(string adapter) => (Linear)lora_A[adapter];
    public Linear LoraB(string adapter) => (Linear)lora_B[adapter];
    public double Scaling(string adapter) => scaling[adapter];
    /// <summary>The adapter's scaling as a Scalar held by the layer (for TorchScript calls).</summary>
    internal Scalar ScalingScalar(string adapter) => scalingScalar[adapter];
    /// <summary>Whether the active adapter's dropout would drop anything now (training mode, p &gt; 0).</summary>
    internal bool DropoutIsActive => ActiveAdapter is not null && lora_dropout[ActiveAdapter] is Dropout d && d.training;

    /// <summary>PEFT's update_layer with init_lora_weights=True: A Kaiming-uniform(a=√5), B zeros, float32.</summary>
    public void AddAdapter(string name, LoraConfig config)
    {
        if (scaling.ContainsKey(name))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "AdapterExists", $"Adapter '{name}' is already attached.", name);
        var device = base_layer.weight!.device;
        var a = nn.Linear(InFeatures, config.R, hasBias: false, device: device, dtype: float32);
        var b = nn.Linear(config.R, OutFeatures, hasBias: false, device: device, dtype: float32);
        using (no_grad())
        {
            nn.init.kaiming_uniform_(a.weight!, a: Math.Sqrt(5));
            nn.init.zeros_(b.weight!);
        }
        nn.Module<Tensor, Tensor> drop = config.Dropout > 0 ? nn.Dropout(config.Dropout) : nn.Identity();
        Add(lora_A, name, a);
        Add(lora_B, name, b);
        Add(lora_dropout, name, drop);
        scaling[name] = config.Scaling;
        scalingScalar[name] = config.Scaling.ToScalar();
        if (!training) drop.eval();
    }

    static void Add(ModuleDict<nn.Module<Tensor, Tensor>> dict, string name, nn.Module<Tensor, Tensor> module)
    {
        dict.Add(name, module);
        dict.register_module(name, module);
    }

    public void RemoveAdapter(string name)
    {
        if (mergedAdapters.Contains(name)) Unmerge();
        foreach (var dict in new[] { lora_A, lora_B, lora_dropout })
        {
            if (!dict.TryGetValue(name, out var m)) continue;
            dict.Remove(name);
            dict.register_module(name, null!);
            m.Dispose();
        }
        scaling.Remove(name);
        if (scalingScalar.Remove(name, out var sc)) sc.Dispose();
        if (ActiveAdapter == name) ActiveAdapter = null;
    }

    /// <summary>Makes <paramref name="name"/> the one adapter applied (null: none); only its weights train.</summary>
    public void SetActive(string? name)
    {
        if (name != null && !scaling.ContainsKey(name)) name = null; // this layer is not a target of that adapter
        ActiveAdapter = name;
        foreach (var key in scaling.Keys)
        {
            var on = key == name;
            LoraA(key).weight!.requires_grad = on;
            LoraB(key).weight!.requires_grad = on;
        }
    }

    public override Tensor forward(Tensor x)
    {
        var result = base_layer.forward(x);
        if (ActiveAdapter == null || Merged) return result;
        using var scope = NewDisposeScope();
        var a = LoraA(ActiveAdapter);
        var resultType = result.dtype;
        var xa = x.dtype == a.weight!.dtype ? x : x.to(a.weight.dtype);
        var delta = LoraB(ActiveAdapter).forward(a.forward(lora_dropout[ActiveAdapter].forward(xa))).mul(scalingScalar[ActiveAdapter]);
        var sum = result + delta;
        if (sum.dtype != resultType) sum = sum.to(resultType);
        return sum.MoveToOuterDisposeScope();
    }

    /// <summary>PEFT get_delta_weight: (B @ A) * scaling, in the base weight's dtype.</summary>
    public Tensor DeltaWeight(string adapter)
    {
        using var scope = NewDisposeScope();
        var delta = LoraB(adapter).weight!.matmul(LoraA(adapter).weight!).mul(scalingScalar[adapter]);
        return delta.to(base_layer.weight!.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Adds the active adapter's delta into base_layer.weight (PEFT merge, safe_merge off).</summary>
    public void Merge()
    {
        if (ActiveAdapter == null || mergedAdapters.Contains(ActiveAdapter)) return;
        using (no_grad())
        using (var delta = DeltaWeight(ActiveAdapter))
            base_layer.weight!.add_(delta);
        mergedAdapters.Add(ActiveAdapter);
    }

    /// <summary>Subtracts every merged adapter's delta again (exact up to float rounding, as in PEFT).</summary>
    public void Unmerge()
    {
        using (no_grad())
        {
            for (int i = mergedAdapters.Count - 1; i >= 0; i--)
            {
                using var delta = DeltaWeight(mergedAdapters[i]);
                base_layer.weight!.sub_(delta);
            }
        }
        mergedAdapters.Clear();
    }
}
