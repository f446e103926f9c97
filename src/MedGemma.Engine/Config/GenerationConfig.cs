using System.Text.Json.Nodes;

namespace MedGemma.Engine.Config;

/// <summary>The parts of generation_config.json the engine uses; absent file or fields fall back to the model config.</summary>
public sealed record GenerationConfig
{
    public IReadOnlyList<long> EosTokenIds { get; init; } = new long[] { 1 };
    public long PadTokenId { get; init; }
    public long BosTokenId { get; init; } = 2;
    public bool DoSample { get; init; }
    public double? Temperature { get; init; }
    public int? TopK { get; init; }
    public double? TopP { get; init; }
    public int? MaxNewTokens { get; init; }

    /// <summary>Reads <c>generation_config.json</c> from a model folder; when missing, uses the model config's eos ids.</summary>
    public static GenerationConfig Load(string folder, Gemma3Config? model = null)
    {
        var path = Path.Combine(folder, "generation_config.json");
        var fallback = new GenerationConfig { EosTokenIds = model?.EosTokenIds ?? new long[] { 1 }, PadTokenId = model?.Text.PadTokenId ?? 0 };
        if (!File.Exists(path)) return fallback;
        var root = ConfigJson.ReadObject(path);
        var eos = ConfigJson.LongList(root, "eos_token_id", path);
        return new GenerationConfig
        {
            EosTokenIds = eos ?? fallback.EosTokenIds,
            PadTokenId = ConfigJson.Long(root, "pad_token_id", path) ?? fallback.PadTokenId,
            BosTokenId = ConfigJson.Long(root, "bos_token_id", path) ?? 2,
            DoSample = ConfigJson.Bool(root, "do_sample", path) ?? false,
            Temperature = ConfigJson.Double(root, "temperature", path),
            TopK = ConfigJson.Int(root, "top_k", path),
            TopP = ConfigJson.Double(root, "top_p", path),
            MaxNewTokens = ConfigJson.Int(root, "max_new_tokens", path),
        };
    }
}
