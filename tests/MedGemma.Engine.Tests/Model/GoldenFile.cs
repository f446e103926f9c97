using MedGemma.Engine.IO;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>Reads every tensor of a golden safetensors file (CPU, stored dtype).</summary>
internal static class GoldenFile
{
    public static Dictionary<string, Tensor> Read(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return file.Names.ToDictionary(n => n, n => file.Read(n));
    }

    public static Dictionary<string, long[]> Shapes(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        return file.Entries.ToDictionary(e => e.Name, e => e.Shape);
    }
}
