using System.Text.Json;

namespace MedGemma.Engine.Tokenization;

/// <summary>One entry of tokenizer.json's <c>added_tokens</c>.</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized, bool LStrip, bool RStrip, bool SingleWord);

/// <summary>
/// The parts of a Hugging Face tokenizer.json that a BPE tokenizer with byte fallback needs, read once.
/// Anything outside what Gemma-style files use (other models, regex pre-tokenizers, byte-level
/// decoders...) is rejected with a NotSupported error naming the file, rather than tokenized wrongly.
/// </summary>
internal sealed class HfTokenizerDefinition
{
    public required Dictionary<string, int> Vocab { get; init; }
    public required List<(string Left, string Right)> Merges { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    public string? UnkToken { get; init; }
    public bool FuseUnk { get; init; }
    public bool ByteFallback { get; init; }
    public bool IgnoreMerges { get; init; }
    public required List<NormalizerStep> Normalizer { get; init; }
    public SplitPreTokenizer? PreTokenizer { get; init; }
    public required List<DecoderStep> Decoder { get; init; }
    /// <summary>Token strings the post-processor puts before / after a single sequence (e.g. &lt;bos&gt;).</summary>
    public required List<string> TemplatePrefix { get; init; }
    public required List<string> TemplateSuffix { get; init; }

    public static HfTokenizerDefinition Load(string path)
    {
        if (!File.Exists(path))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "TokenizerFileNotFound", $"Tokenizer file not found: {path}", path);
        try
        {
            using var stream = File.OpenRead(path);
            using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
            return Parse(doc.RootElement, path);
        }
        catch (JsonException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidTokenizerJson", $"{path} is not valid JSON: {e.Message}", path, e);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidTokenizerJson", $"{path} is not a tokenizer.json this engine can read: {e.Message}", path, e);
        }
    }

    static HfTokenizerDefinition Parse(JsonElement root, string path)
    {
        var model = root.GetProperty("model");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : "BPE";
        if (type != "BPE") throw Unsupported(path, $"model type '{type}' (only BPE)");
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw Unsupported(path, $"BPE {key}");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw Unsupported(path, "BPE dropout");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();

        var mergesJson = model.GetProperty("merges");
        var merges = new List<(string, string)>(mergesJson.GetArrayLength());
        foreach (var m in mergesJson.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.Array) merges.Add((m[0].GetString()!, m[1].GetString()!));
            else
            {
                // Older files store "left right" strings.
                var s = m.GetString()!;
                var space = s.IndexOf(' ', 1);
                if (space < 0) throw new FormatException($"merge '{s}' has no separator");
                merges.Add((s[..space], s[(space + 1)..]));
            }
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
            foreach (var a in addedJson.EnumerateArray())
                added.Add(new AddedToken(a.GetProperty("id").GetInt32(), a.GetProperty("content").GetString()!,
                    Bool(a, "special"), Bool(a, "normalized"), Bool(a, "lstrip"), Bool(a, "rstrip"), Bool(a, "single_word")));

        var (prefix, suffix) = ParseTemplate(root, path);
        return new HfTokenizerDefinition
        {
            Vocab = vocab,
            Merges = merges,
            AddedTokens = added,
            UnkToken = model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String ? unk.GetString() : null,
            FuseUnk = Bool(model, "fuse_unk"),
            ByteFallback = Bool(model, "byte_fallback"),
            IgnoreMerges = Bool(model, "ignore_merges"),
            Normalizer = ParseNormalizer(root.GetProperty("normalizer"), path),
            PreTokenizer = ParsePreTokenizer(root.GetProperty("pre_tokenizer"), path),
            Decoder = ParseDecoder(root.GetProperty("decoder"), path),
            TemplatePrefix = prefix,
            TemplateSuffix = suffix,
        };
    }

    static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    static List<NormalizerStep> ParseNormalizer(JsonElement n, string path)
    {
        var steps = new List<NormalizerStep>();
        if (n.ValueKind == JsonValueKind.Null) return steps;
        switch (n.GetProperty("type").GetString())
        {
            case "Sequence":
                foreach (var child in n.GetProperty("normalizers").EnumerateArray()) steps.AddRange(ParseNormalizer(child, path));
                break;
            case "Replace":
                steps.Add(new NormalizerStep(NormalizerKind.Replace, StringPattern(n, path, "normalizer Replace"), n.GetProperty("content").GetString()!));
                break;
            case "Prepend":
                steps.Add(new NormalizerStep(NormalizerKind.Prepend, "", n.GetProperty("prepend").GetString()!));
                break;
            case var other:
                throw Unsupported(path, $"normalizer '{other}'");
        }
        return steps;
    }

    static SplitPreTokenizer? ParsePreTokenizer(JsonElement p, string path)
    {
        if (p.ValueKind == JsonValueKind.Null) return null;
        var type = p.GetProperty("type").GetString();
        if (type != "Split") throw Unsupported(path, $"pre_tokenizer '{type}'");
        if (Bool(p, "invert")) throw Unsupported(path, "inverted Split pre_tokenizer");
        var behavior = p.GetProperty("behavior").GetString() switch
        {
            "Removed" => SplitBehavior.Removed,
            "Isolated" => SplitBehavior.Isolated,
            "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
            "MergedWithNext" => SplitBehavior.MergedWithNext,
            var b => throw Unsupported(path, $"Split behavior '{b}'"),
        };
        return new SplitPreTokenizer(StringPattern(p, path, "pre_tokenizer Split"), behavior);
    }

    static List<DecoderStep> ParseDecoder(JsonElement d, string path)
    {
        var steps = new List<DecoderStep>();
        if (d.ValueKind == JsonValueKind.Null) return steps;
        switch (d.GetProperty("type").GetString())
        {
            case "Sequence":
                foreach (var child in d.GetProperty("decoders").EnumerateArray()) steps.AddRange(ParseDecoder(child, path));
                break;
            case "Replace":
                steps.Add(new DecoderStep(DecoderKind.Replace, StringPattern(d, path, "decoder Replace"), d.GetProperty("content").GetString()!, 0, 0));
                break;
            case "ByteFallback":
                steps.Add(new DecoderStep(DecoderKind.ByteFallback, "", "", 0, 0));
                break;
            case "Fuse":
                steps.Add(new DecoderStep(DecoderKind.Fuse, "", "", 0, 0));
                break;
            case "Strip":
                steps.Add(new DecoderStep(DecoderKind.Strip, d.GetProperty("content").GetString()!, "", d.GetProperty("start").GetInt32(), d.GetProperty("stop").GetInt32()));
                break;
            case var other:
                throw Unsupported(path, $"decoder '{other}'");
        }
        return steps;
    }

    static (List<string>, List<string>) ParseTemplate(JsonElement root, string path)
    {
        var prefix = new List<string>();
        var suffix = new List<string>();
        if (!root.TryGetProperty("post_processor", out var pp) || pp.ValueKind == JsonValueKind.Null) return (prefix, suffix);
        var type = pp.GetProperty("type").GetString();
        if (type != "TemplateProcessing") throw Unsupported(path, $"post_processor '{type}'");
        var seenSequence = false;
        foreach (var piece in pp.GetProperty("single").EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
            var id = piece.GetProperty("SpecialToken").GetProperty("id").GetString()!;
            var tokens = pp.GetProperty("special_tokens").GetProperty(id).GetProperty("tokens");
            foreach (var tok in tokens.EnumerateArray()) (seenSequence ? suffix : prefix).Add(tok.GetString()!);
        }
        return (prefix, suffix);
    }

    static string StringPattern(JsonElement e, string path, string what)
    {
        var pattern = e.GetProperty("pattern");
        if (pattern.TryGetProperty("String", out var s)) return s.GetString()!;
        throw Unsupported(path, $"{what} with a regex pattern");
    }

    static MedGemmaException Unsupported(string path, string what) =>
        new(MedGemmaErrorKind.NotSupported, "UnsupportedTokenizer", $"{path}: {what} is not supported by the engine's BPE tokenizer", path);
}

internal enum NormalizerKind { Replace, Prepend }

internal sealed record NormalizerStep(NormalizerKind Kind, string Pattern, string Content);

internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext }

internal sealed record SplitPreTokenizer(string Pattern, SplitBehavior Behavior);

internal enum DecoderKind { Replace, ByteFallback, Fuse, Strip }

internal sealed record DecoderStep(DecoderKind Kind, string Pattern, string Content, int Start, int Stop);
