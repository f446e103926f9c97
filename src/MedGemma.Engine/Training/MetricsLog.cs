using System.Text.Json;

namespace MedGemma.Engine.Training;

/// <summary>metrics.jsonl beside the adapter: one JSON object per optimizer step or validation, appended.</summary>
public sealed class MetricsLog
{
    public const string FileName = "metrics.jsonl";

    public MetricsLog(string outputPath) => Path = System.IO.Path.Combine(outputPath, FileName);

    public string Path { get; }

    public void Append(object record)
    {
        File.AppendAllText(Path, JsonSerializer.Serialize(record) + "\n");
    }

    /// <summary>Drops records after <paramref name="step"/> (a resumed run repeats them).</summary>
    public void TruncateAfter(int step)
    {
        if (!File.Exists(Path)) return;
        var kept = File.ReadAllLines(Path).Where(line =>
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                return !doc.RootElement.TryGetProperty("step", out var s) || s.GetInt32() <= step;
            }
            catch (JsonException) { return false; }
        }).ToList();
        IO.AtomicFile.WriteAllText(Path, kept.Count == 0 ? "" : string.Join("\n", kept) + "\n");
    }
}
