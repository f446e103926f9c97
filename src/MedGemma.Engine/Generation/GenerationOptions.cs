using MedGemma.Engine.Config;

namespace MedGemma.Engine.Generation;

/// <summary>How to pick tokens and when to stop. Defaults: greedy, 64 new tokens, eos/pad from the model folder.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>false = greedy (argmax); true = sample after temperature, top-k and top-p (in that order, as transformers).</summary>
    public bool DoSample { get; init; }
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep the k most likely tokens; 0 = no limit.</summary>
    public int TopK { get; init; } = 50;
    /// <summary>Keep the smallest set of tokens whose probability reaches p; 1 = no limit.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Seed of the sampling generator; null = a random seed.</summary>
    public ulong? Seed { get; init; }
    /// <summary>Stop a row at any of these ids; null = the generation config's.</summary>
    public IReadOnlyList<long>? EosTokenIds { get; init; }
    /// <summary>Written after a row stopped; null = the generation config's.</summary>
    public long? PadTokenId { get; init; }

    /// <summary>Options as a model folder's generation_config.json asks (sampling settings included).</summary>
    public static GenerationOptions FromConfig(GenerationConfig config) => new()
    {
        DoSample = config.DoSample,
        Temperature = config.Temperature ?? 1.0,
        TopK = config.TopK ?? 50,
        TopP = config.TopP ?? 1.0,
        MaxNewTokens = config.MaxNewTokens ?? 64,
        EosTokenIds = config.EosTokenIds,
        PadTokenId = config.PadTokenId,
    };

    internal void Validate()
    {
        if (MaxNewTokens <= 0) throw Bad(nameof(MaxNewTokens), $"must be positive (got {MaxNewTokens})");
        if (DoSample && !(Temperature > 0)) throw Bad(nameof(Temperature), $"must be positive (got {Temperature})");
        if (TopK < 0) throw Bad(nameof(TopK), $"must be 0 or more (got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw Bad(nameof(TopP), $"must be in (0, 1] (got {TopP})");
    }

    static MedGemmaException Bad(string name, string why) =>
        new(MedGemmaErrorKind.InvalidArgument, "InvalidGenerationOption", $"{name} {why}.", name);
}
