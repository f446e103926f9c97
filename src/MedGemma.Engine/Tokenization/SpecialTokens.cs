using System.Text.Json;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// The special tokens a Gemma 3 / MedGemma prompt needs, named as in tokenizer_config.json
/// (bos_token, eos_token, pad_token, boi_token, eoi_token, image_token) plus the chat-turn markers,
/// which Gemma's chat template writes literally.
/// </summary>
public sealed record SpecialTokens
{
    public string Bos { get; init; } = "<bos>";
    /// <summary>End of generation as the model folder defines it (MedGemma: &lt;end_of_turn&gt;).</summary>
    public string Eos { get; init; } = "<eos>";
    public string Pad { get; init; } = "<pad>";
    public string Unk { get; init; } = "<unk>";
    public string BeginOfImage { get; init; } = "<start_of_image>";
    public string EndOfImage { get; init; } = "<end_of_image>";
    public string ImageToken { get; init; } = "<image_soft_token>";
    public string StartOfTurn { get; init; } = "<start_of_turn>";
    public string EndOfTurn { get; init; } = "<end_of_turn>";

    /// <summary>Reads tokenizer_config.json; keys it lacks keep Gemma's defaults. Values may be strings or {"content": ...} objects (older files).</summary>
    public static SpecialTokens FromTokenizerConfig(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            var d = new SpecialTokens();
            return d with
            {
                Bos = Read(r, "bos_token") ?? d.Bos,
                Eos = Read(r, "eos_token") ?? d.Eos,
                Pad = Read(r, "pad_token") ?? d.Pad,
                Unk = Read(r, "unk_token") ?? d.Unk,
                BeginOfImage = Read(r, "boi_token") ?? d.BeginOfImage,
                EndOfImage = Read(r, "eoi_token") ?? d.EndOfImage,
                ImageToken = Read(r, "image_token") ?? d.ImageToken,
            };
        }
        catch (JsonException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidTokenizerConfig", $"{path} is not valid JSON: {e.Message}", path, e);
        }
    }

    static string? Read(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) => c.GetString(),
            _ => null,
        };
    }
}
