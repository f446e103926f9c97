using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Lora;

/// <summary>
/// Swaps a submodule at a dotted path (PEFT's _replace_module): the parent's registration and the
/// field its forward uses both change, so state_dict names and computation stay in step.
/// </summary>
public static class ModuleTree
{
    public static nn.Module Get(nn.Module root, string path)
    {
        var current = root;
        foreach (var part in path.Split('.'))
        {
            var child = current.named_children().FirstOrDefault(c => c.name == part).module;
            current = child ?? throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ModuleNotFound", $"No module '{path}' in the model.", path);
        }
        return current;
    }

    public static void Replace(nn.Module root, string path, nn.Module<Tensor, Tensor> replacement)
    {
        var dot = path.LastIndexOf('.');
        var parent = dot < 0 ? root : Get(root, path[..dot]);
        var name = path[(dot + 1)..];
        var old = Get(parent, name);
        var field = FindField(parent.GetType(), name, old, parent)
            ?? throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "ModuleNotReplaceable",
                $"Module '{path}' is not held in a field of {parent.GetType().Name} that can take a wrapped module.", path);
        field.SetValue(parent, replacement);
        parent.register_module(name, null!);
        parent.register_module(name, replacement);
    }

    static FieldInfo? FindField(Type type, string name, nn.Module old, nn.Module parent)
    {
        for (var t = type; t != null && t != typeof(nn.Module); t = t.BaseType)
        {
            const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
            var fields = t.GetFields(flags);
            var match = fields.FirstOrDefault(f => f.Name == name && ReferenceEquals(f.GetValue(parent), old))
                ?? fields.FirstOrDefault(f => ReferenceEquals(f.GetValue(parent), old));
            if (match != null)
                return match.FieldType.IsAssignableFrom(typeof(LoraLinear)) ? match : null;
        }
        return null;
    }
}
