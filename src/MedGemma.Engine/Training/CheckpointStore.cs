using MedGemma.Engine.IO;
using MedGemma.Engine.Lora;
using static TorchSharp.torch;

namespace MedGemma.Engine.Training;

/// <summary>
/// The resumable checkpoint under OutputPath/checkpoint: the adapter (PEFT files), the optimizer
/// moments (optimizer.safetensors) and <see cref="TrainerState"/>. A new checkpoint is written whole
/// into a temporary folder and swapped in by renames, so a crash or Ctrl+C leaves the previous one intact.
/// </summary>
public static class CheckpointStore
{
    public const string FolderName = "checkpoint";
    const string OptimizerFile = "optimizer.safetensors";

    public static string PathIn(string outputPath) => Path.Combine(outputPath, FolderName);

    public static void Save(string outputPath, LoraAdapter adapter, AdamW optimizer, TrainerState state)
    {
        var final = PathIn(outputPath);
        var old = final + ".old";
        var tmp = Path.Combine(outputPath, $".{FolderName}.{Guid.NewGuid():N}.tmp");
        try
        {
            adapter.Save(tmp);
            SafeTensorsWriter.Write(Path.Combine(tmp, OptimizerFile), optimizer.StateTensors());
            state.Write(Path.Combine(tmp, TrainerState.FileName));
            if (Directory.Exists(old)) Directory.Delete(old, true);
            if (Directory.Exists(final)) Directory.Move(final, old);
            Directory.Move(tmp, final);
            if (Directory.Exists(old)) Directory.Delete(old, true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    /// <summary>The last complete checkpoint folder, or null (a swap cut short leaves it as checkpoint.old).</summary>
    public static string? Find(string outputPath)
    {
        var final = PathIn(outputPath);
        if (File.Exists(Path.Combine(final, TrainerState.FileName))) return final;
        var old = final + ".old";
        return File.Exists(Path.Combine(old, TrainerState.FileName)) ? old : null;
    }

    public static (LoraAdapter Adapter, Dictionary<string, Tensor> Optimizer, TrainerState State) Load(string folder)
    {
        var state = TrainerState.Read(Path.Combine(folder, TrainerState.FileName));
        var adapter = LoraAdapter.Load(folder);
        var optimizer = new Dictionary<string, Tensor>();
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, OptimizerFile)))
            foreach (var name in file.Names) optimizer[name] = file.Read(name, CPU, float32);
        return (adapter, optimizer, state);
    }
}
