using System.Text.Json;
using System.Text.Json.Serialization;

namespace MedGemma.Engine.Training;

/// <summary>
/// Where a run stands, saved in each checkpoint (trainer_state.json). Together with the adapter and
/// the optimizer moments this is everything a resumed run needs: data order comes from (Seed, Epoch)
/// and dropout noise is reseeded from (Seed, Step) before every optimizer step, so no generator state
/// has to be carried.
/// </summary>
public sealed record TrainerState
{
    public const string FileName = "trainer_state.json";

    public int Step { get; init; }
    public int Epoch { get; init; }
    /// <summary>Micro-batches of the current epoch already consumed.</summary>
    public int BatchInEpoch { get; init; }
    public int TotalSteps { get; init; }
    public int Seed { get; init; }
    public double? BestValidationLoss { get; init; }
    public int BestStep { get; init; }
    public int ValidationsWithoutImprovement { get; init; }
    public double LastLoss { get; init; }
    /// <summary>The current epoch's sample order (informational; it is recomputed from Seed and Epoch).</summary>
    public int[] Order { get; init; } = Array.Empty<int>();
    /// <summary>Settings that must not change across a resume (batch size, accumulation, dataset size, schedule…).</summary>
    public string Fingerprint { get; init; } = "";
    public double ElapsedSeconds { get; init; }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public void Write(string path) => IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public static TrainerState Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), Json)
                ?? throw new JsonException("empty");
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadCheckpoint", $"Cannot read trainer state {path}: {e.Message}", path, e);
        }
    }
}
