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
    /// <summary>Merges in rank order, resolved to ids: left + right → merged.</summary>
    public required List<(int Left, int Right, int Merged)> Merges { get; init; }
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
            return Parse(File.ReadAllBytes(path), path);
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

    /// <summary>
    /// The 33 MB file is read with a streaming reader: the vocabulary and the half-million merges go
    /// straight into their tables (merges resolved to ids without allocating strings); the small
    /// sections (normalizer, decoder, added tokens...) are parsed as JSON elements.
    /// </summary>
    static HfTokenizerDefinition Parse(byte[] json, string path)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        var sections = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var modelProps = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        Dictionary<string, int>? vocab = null;
        VocabIndex? index = null;
        var merges = new List<(int, int, int)>();
        List<(string, string)>? pendingMerges = null;

        Expect(ref reader, JsonTokenType.StartObject);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (name != "model") { sections[name] = ParseValue(ref reader); continue; }
            if (reader.TokenType != JsonTokenType.StartObject) throw new FormatException("'model' is not an object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = reader.GetString()!;
                reader.Read();
                if (key == "vocab")
                {
                    vocab = ReadVocab(ref reader);
                    index = new VocabIndex(vocab);
                }
                else if (key == "merges")
                {
                    if (index != null) ReadMerges(ref reader, index, merges, path);
                    else pendingMerges = ReadMergeStrings(ref reader);
                }
                else modelProps[key] = ParseValue(ref reader);
            }
        }
        if (vocab == null || index == null) throw new KeyNotFoundException("model.vocab is missing");
        if (pendingMerges != null)
                foreach (var (l, r) in pendingMerges) merges.Add(Resolve(index, l, r, l + r, merges.Count, path));

        var type = modelProps.TryGetValue("type", out var t) ? t.GetString() : "BPE";
        if (type != "BPE") throw Unsupported(path, $"model type '{type}' (only BPE)");
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (modelProps.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw Unsupported(path, $"BPE {key}");
        if (modelProps.TryGetValue("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw Unsupported(path, "BPE dropout");

        var added = new List<AddedToken>();
        if (sections.TryGetValue("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
            foreach (var a in addedJson.EnumerateArray())
                added.Add(new AddedToken(a.GetProperty("id").GetInt32(), a.GetProperty("content").GetString()!,
                    Bool(a, "special"), Bool(a, "normalized"), Bool(a, "lstrip"), Bool(a, "rstrip"), Bool(a, "single_word")));

        var (prefix, suffix) = ParseTemplate(Section(sections, "post_processor"), path);
        return new HfTokenizerDefinition
        {
            Vocab = vocab,
            Merges = merges,
            AddedTokens = added,
            UnkToken = modelProps.TryGetValue("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String ? unk.GetString() : null,
            FuseUnk = Bool(modelProps, "fuse_unk"),
            ByteFallback = Bool(modelProps, "byte_fallback"),
            IgnoreMerges = Bool(modelProps, "ignore_merges"),
            Normalizer = ParseNormalizer(Section(sections, "normalizer"), path),
            PreTokenizer = ParsePreTokenizer(Section(sections, "pre_tokenizer"), path),
            Decoder = ParseDecoder(Section(sections, "decoder"), path),
            TemplatePrefix = prefix,
            TemplateSuffix = suffix,
        };
    }

    static readonly JsonElement Null = JsonDocument.Parse("null").RootElement.Clone();

    static JsonElement Section(Dictionary<string, JsonElement> sections, string name) => sections.TryGetValue(name, out var e) ? e : Null;

    static JsonElement ParseValue(ref Utf8JsonReader reader)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        return doc.RootElement.Clone();
    }

    static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (!reader.Read() || reader.TokenType != type) throw new FormatException($"expected {type} at byte {reader.TokenStartIndex}");
    }

    static Dictionary<string, int> ReadVocab(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new FormatException("model.vocab is not an object");
        var vocab = new Dictionary<string, int>(300_000, StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var token = reader.GetString()!;
            reader.Read();
            vocab[token] = reader.GetInt32();
        }
        return vocab;
    }

    static void ReadMerges(ref Utf8JsonReader reader, VocabIndex index, List<(int, int, int)> merges, string path)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new FormatException("model.merges is not an array");
        var buffer = new char[256];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                reader.Read();
                var l = Copy(ref reader, ref buffer, 0);
                reader.Read();
                var r = Copy(ref reader, ref buffer, l);
                Expect(ref reader, JsonTokenType.EndArray);
                // left and right were copied side by side, so buffer[0..l+r] is the merged token.
                merges.Add(Resolve(index, buffer.AsSpan(0, l), buffer.AsSpan(l, r), buffer.AsSpan(0, l + r), merges.Count, path));
            }
            else
            {
                // Older files store "left right" strings.
                var n = Copy(ref reader, ref buffer, 0);
                var space = buffer.AsSpan(1, Math.Max(0, n - 1)).IndexOf(' ') + 1;
                if (space <= 0) throw new FormatException($"merge #{merges.Count} has no separator");
                var whole = buffer.AsSpan(0, n).ToString();
                merges.Add(Resolve(index, whole.AsSpan(0, space), whole.AsSpan(space + 1), string.Concat(whole.AsSpan(0, space), whole.AsSpan(space + 1)), merges.Count, path));
            }
        }
    }

    static List<(string, string)> ReadMergeStrings(ref Utf8JsonReader reader)
    {
        var list = new List<(string, string)>();
        using var doc = JsonDocument.ParseValue(ref reader);
        foreach (var m in doc.RootElement.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.Array) { list.Add((m[0].GetString()!, m[1].GetString()!)); continue; }
            var s = m.GetString()!;
            var space = s.IndexOf(' ', 1);
            if (space < 0) throw new FormatException($"merge '{s}' has no separator");
            list.Add((s[..space], s[(space + 1)..]));
        }
        return list;
    }

    /// <summary>Copies the current JSON string into buffer at offset (growing it); returns its length in chars.</summary>
    static int Copy(ref Utf8JsonReader reader, ref char[] buffer, int offset)
    {
        if (reader.TokenType != JsonTokenType.String) throw new FormatException($"expected a string at byte {reader.TokenStartIndex}");
        var max = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (buffer.Length < offset + 2 * max) Array.Resize(ref buffer, (offset + 2 * max) * 2);
        return reader.CopyString(buffer.AsSpan(offset));
    }

    /// <summary>Ids of a merge's parts and of their concatenation.</summary>
    static (int, int, int) Resolve(VocabIndex index, ReadOnlySpan<char> l, ReadOnlySpan<char> r, ReadOnlySpan<char> joined, int rank, string path)
    {
        int li = index.Find(l), ri = index.Find(r), ni = index.Find(joined);
        if (li < 0 || ri < 0 || ni < 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidTokenizerJson",
                $"{path}: merge #{rank} ('{l}', '{r}') uses a token that is not in the vocabulary", path);
        return (li, ri, ni);
    }

    static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    static bool Bool(Dictionary<string, JsonElement> props, string name) => props.TryGetValue(name, out var v) && v.ValueKind == JsonValueKind.True;

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

    static (List<string>, List<string>) ParseTemplate(JsonElement pp, string path)
    {
        var prefix = new List<string>();
        var suffix = new List<string>();
        if (pp.ValueKind == JsonValueKind.Null) return (prefix, suffix);
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
