using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>
/// PyTorch's <c>Module.to_empty</c>: a module built on the meta device (shapes and dtypes only, so the
/// constructors' random initialisation costs nothing) gets uninitialised storage on a real device. Loading a
/// checkpoint overwrites every weight anyway, and drawing Kaiming/normal values for 4 B parameters first takes
/// longer on a CPU than reading them from disk. Parameters are swapped the way TorchSharp's own <c>Module.to</c>
/// swaps them (the public property of that name, else the registration plus the field holding it), so forward,
/// parameters() and state_dict() see the new tensors.
/// </summary>
public static class ModuleMaterializer
{
    public static readonly Device Meta = new(DeviceType.META);

    const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    static readonly MethodInfo Register = typeof(nn.Module).GetMethod("ConditionallyRegisterParameter", Instance, new[] { typeof(string), typeof(Parameter) })
        ?? throw new MissingMethodException(nameof(nn.Module), "ConditionallyRegisterParameter");

    /// <summary>
    /// Gives every parameter of <paramref name="root"/> and its submodules fresh uninitialised storage on
    /// <paramref name="device"/> (same shape, dtype and requires_grad). Modules with buffers are refused: a buffer's
    /// value comes from its constructor, which ran on the meta device and left no data.
    /// </summary>
    public static void ToEmpty(nn.Module root, Device device)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(device);
        if (root.buffers().Any())
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "MetaBufferUnsupported",
                $"{root.GetType().Name} has buffers, whose values an uninitialised build would lose; build it on {device} instead.", root.GetType().Name);
        using var _ = no_grad();
        foreach (var module in root.modules().Prepend(root))
            foreach (var (name, old) in module.named_parameters(recurse: false).ToList())
                Replace(module, name, old, new Parameter(empty(old.shape, old.dtype, device), old.requires_grad));
        var left = root.named_parameters().FirstOrDefault(p => p.parameter.device_type != device.type);
        if (left.parameter is not null)
            throw new InvalidOperationException($"Parameter '{left.name}' of {root.GetType().Name} stayed on {left.parameter.device} ({left.parameter.GetType().Name} field not found).");
    }

    static void Replace(nn.Module module, string name, Parameter old, Parameter fresh)
    {
        var type = module.GetType();
        var property = type.GetProperty(name, BindingFlags.Instance | BindingFlags.Public);
        if (property is { CanWrite: true } && property.PropertyType.IsAssignableFrom(typeof(Parameter)))
        {
            // TorchSharp's modules (Linear, Conv2d, LayerNorm, Embedding) dispose the old tensor and re-register in the setter.
            property.SetValue(module, fresh);
            return;
        }
        FieldInfo? field = null;
        for (var t = type; t != null && field is null && t != typeof(nn.Module); t = t.BaseType)
            field = t.GetFields(Instance | BindingFlags.DeclaredOnly).FirstOrDefault(f => ReferenceEquals(f.GetValue(module), old));
        if (field is null || !field.FieldType.IsAssignableFrom(typeof(Parameter)))
            throw new InvalidOperationException($"{type.Name} holds its parameter '{name}' neither in a public property nor in a field of type Parameter.");
        Register.Invoke(module, new object?[] { name, fresh });
        field.SetValue(module, fresh);
        old.Dispose();
    }
}
