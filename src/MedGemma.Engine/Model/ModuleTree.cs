using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>
/// Finds and swaps submodules by dotted path (PEFT's _replace_module): the parent's registration and the
/// field its forward uses both change, so state_dict names and computation stay in step. LoRA wraps
/// q_proj/v_proj through this.
/// </summary>
public static class ModuleTree
{
    public static nn.Module Get(nn.Module root, string path)
    {
        var current = root;
        foreach (var part in path.Split('.'))
            current = current.named_children().FirstOrDefault(c => c.name == part).module
                ?? throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ModuleNotFound", $"No module '{path}' in the model.", path);
        return current;
    }

    public static void Replace(nn.Module root, string path, nn.Module<Tensor, Tensor> replacement)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        var old = Get(root, path);
        var dot = path.LastIndexOf('.');
        var parent = dot < 0 ? root : Get(root, path[..dot]);
        var name = path[(dot + 1)..];
        var field = FindField(parent, name, old, replacement.GetType())
            ?? throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "ModuleNotReplaceable",
                $"Module '{path}' is not held in a field of {parent.GetType().Name} that can take a {replacement.GetType().Name}.", path);
        field.SetValue(parent, replacement);
        parent.register_module(name, null!);
        parent.register_module(name, replacement);
    }

    static FieldInfo? FindField(nn.Module parent, string name, nn.Module old, Type replacementType)
    {
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        for (var t = parent.GetType(); t != null && t != typeof(nn.Module); t = t.BaseType)
        {
            var fields = t.GetFields(flags);
            var match = fields.FirstOrDefault(f => f.Name == name && ReferenceEquals(f.GetValue(parent), old))
                ?? fields.FirstOrDefault(f => ReferenceEquals(f.GetValue(parent), old));
            if (match != null)
                return match.FieldType.IsAssignableFrom(replacementType) ? match : null;
        }
        return null;
    }
}
