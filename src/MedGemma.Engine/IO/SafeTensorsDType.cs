using TorchSharp;

namespace MedGemma.Engine.IO;

/// <summary>The safetensors dtype codes we read and write, with their element sizes and TorchSharp types.</summary>
public static class SafeTensorsDType
{
    static readonly Dictionary<string, (torch.ScalarType Type, int Size)> Codes = new(StringComparer.Ordinal)
    {
        ["F64"] = (torch.ScalarType.Float64, 8),
        ["F32"] = (torch.ScalarType.Float32, 4),
        ["F16"] = (torch.ScalarType.Float16, 2),
        ["BF16"] = (torch.ScalarType.BFloat16, 2),
        ["I64"] = (torch.ScalarType.Int64, 8),
        ["I32"] = (torch.ScalarType.Int32, 4),
        ["I16"] = (torch.ScalarType.Int16, 2),
        ["I8"] = (torch.ScalarType.Int8, 1),
        ["U8"] = (torch.ScalarType.Byte, 1),
        ["BOOL"] = (torch.ScalarType.Bool, 1),
    };

    /// <summary>True when <paramref name="code"/> (e.g. "BF16") is a dtype this reader handles.</summary>
    public static bool IsKnown(string code) => Codes.ContainsKey(code);

    public static torch.ScalarType ToScalarType(string code) =>
        Codes.TryGetValue(code, out var v) ? v.Type : throw new ArgumentException($"Unknown safetensors dtype '{code}'.", nameof(code));

    public static int ElementSize(string code) =>
        Codes.TryGetValue(code, out var v) ? v.Size : throw new ArgumentException($"Unknown safetensors dtype '{code}'.", nameof(code));

    public static string FromScalarType(torch.ScalarType type)
    {
        foreach (var (code, v) in Codes)
            if (v.Type == type) return code;
        throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedDType",
            $"Tensors of type {type} cannot be stored in safetensors by this engine.", type);
    }

    /// <summary>Bytes per element of a TorchSharp type we store (parameters: F32/BF16/F16).</summary>
    public static int ElementSize(torch.ScalarType type) => ElementSize(FromScalarType(type));

    public static bool IsFloatingPoint(torch.ScalarType type) =>
        type is torch.ScalarType.Float64 or torch.ScalarType.Float32 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16;
}
