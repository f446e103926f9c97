using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// The Gemma 3 / MedGemma tokenizer of a model folder: tokenizer.json (Hugging Face BPE with byte
/// fallback, see <see cref="HfBpeTokenizer"/>) when present, else tokenizer.model through
/// Microsoft.ML.Tokenizers' SentencePieceTokenizer; special tokens from tokenizer_config.json.
/// Encoding never adds &lt;bos&gt; unless asked: the chat prompt writes it itself.
/// </summary>
public sealed class GemmaTokenizer
{
    readonly HfBpeTokenizer? hf;
    readonly SentencePieceTokenizer? sp;

    /// <summary>The Microsoft.ML.Tokenizers object doing the work.</summary>
    public Tokenizer Inner => (Tokenizer?)hf ?? sp!;
    /// <summary>The file the vocabulary came from.</summary>
    public string Source { get; }
    public SpecialTokens Special { get; }

    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    public int BeginOfImageId { get; }
    public int EndOfImageId { get; }
    public int ImageTokenId { get; }
    public int StartOfTurnId { get; }
    public int EndOfTurnId { get; }

    GemmaTokenizer(HfBpeTokenizer? hf, SentencePieceTokenizer? sp, string source, SpecialTokens special)
    {
        this.hf = hf;
        this.sp = sp;
        Source = source;
        Special = special;
        BosId = Require(special.Bos, "bos_token");
        EosId = Require(special.Eos, "eos_token");
        PadId = Require(special.Pad, "pad_token");
        BeginOfImageId = Require(special.BeginOfImage, "boi_token");
        EndOfImageId = Require(special.EndOfImage, "eoi_token");
        ImageTokenId = Require(special.ImageToken, "image_token");
        StartOfTurnId = Require(special.StartOfTurn, "start_of_turn");
        EndOfTurnId = Require(special.EndOfTurn, "end_of_turn");
    }

    int Require(string token, string role) =>
        TokenToId(token) ?? throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "MissingSpecialToken",
            $"{Source}: the {role} '{token}' is not in the vocabulary", Source);

    /// <summary>Loads the tokenizer of a Hugging Face model folder (tokenizer.json, else tokenizer.model; tokenizer_config.json if present).</summary>
    public static GemmaTokenizer FromModelFolder(string folder)
    {
        if (!Directory.Exists(folder))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ModelFolderNotFound", $"Model folder not found: {folder}", folder);
        var config = Path.Combine(folder, "tokenizer_config.json");
        var json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json)) return FromTokenizerJson(json, File.Exists(config) ? config : null);
        var model = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(model)) return FromSentencePieceModel(model, File.Exists(config) ? config : null);
        throw new MedGemmaException(MedGemmaErrorKind.NotFound, "TokenizerFileNotFound",
            $"{folder} has neither tokenizer.json nor tokenizer.model", folder);
    }

    public static GemmaTokenizer FromTokenizerJson(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        var special = tokenizerConfigPath != null ? SpecialTokens.FromTokenizerConfig(tokenizerConfigPath) : new SpecialTokens();
        return new GemmaTokenizer(HfBpeTokenizer.FromFile(tokenizerJsonPath), null, tokenizerJsonPath, special);
    }

    /// <summary>
    /// tokenizer.model through Microsoft.ML.Tokenizers' SentencePieceTokenizer. NOT verified against the
    /// reference: no tokenizer.model was available to test with (the npm package and the fixtures only
    /// have tokenizer.json); prefer tokenizer.json, which published MedGemma folders also include.
    /// </summary>
    public static GemmaTokenizer FromSentencePieceModel(string tokenizerModelPath, string? tokenizerConfigPath = null)
    {
        var special = tokenizerConfigPath != null ? SpecialTokens.FromTokenizerConfig(tokenizerConfigPath) : new SpecialTokens();
        try
        {
            SentencePieceTokenizer Create(IReadOnlyDictionary<string, int>? specials)
            {
                using var stream = File.OpenRead(tokenizerModelPath);
                return SentencePieceTokenizer.Create(stream, false, false, specials);
            }
            // Gemma's chat and image markers must be matched whole in text, so they are passed as special tokens.
            var plain = Create(null);
            var specials = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var t in new[] { special.Bos, special.Eos, special.Pad, special.Unk, special.BeginOfImage, special.EndOfImage,
                                      special.ImageToken, special.StartOfTurn, special.EndOfTurn })
                if (plain.Vocabulary.TryGetValue(t, out var id)) specials[t] = id;
            foreach (var (content, id) in AddedTokensDecoder(tokenizerConfigPath)) specials[content] = id;
            return new GemmaTokenizer(null, Create(specials), tokenizerModelPath, special);
        }
        catch (Exception e) when (e is not MedGemmaException and not IOException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidTokenizerModel",
                $"{tokenizerModelPath} is not a SentencePiece model this engine can read: {e.Message}", tokenizerModelPath, e);
        }
    }

    static IEnumerable<(string, int)> AddedTokensDecoder(string? configPath)
    {
        if (configPath == null) yield break;
        using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
        if (!doc.RootElement.TryGetProperty("added_tokens_decoder", out var dec) || dec.ValueKind != JsonValueKind.Object) yield break;
        foreach (var p in dec.EnumerateObject())
            if (int.TryParse(p.Name, out var id) && p.Value.TryGetProperty("content", out var c) && c.GetString() is { } s)
                yield return (s, id);
    }

    /// <summary>Token ids of <paramref name="text"/>; special-token text (e.g. "&lt;start_of_turn&gt;") becomes its id.</summary>
    public int[] Encode(string text, bool addBos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (hf != null)
        {
            var ids = new List<int>(text.Length / 3 + 4);
            if (addBos) ids.Add(BosId);
            hf.EncodeToIds(text.AsSpan(), addSpecialTokens: false, ids);
            return ids.ToArray();
        }
        return sp!.EncodeToIds(text, addBos, false).ToArray();
    }

    /// <summary>Appends the ids of <paramref name="text"/> (no &lt;bos&gt;) to <paramref name="ids"/>.</summary>
    public void EncodeTo(ReadOnlySpan<char> text, List<int> ids)
    {
        if (hf != null) hf.EncodeToIds(text, addSpecialTokens: false, ids);
        else ids.AddRange(sp!.EncodeToIds(text, false, false));
    }

    /// <summary>Text of <paramref name="ids"/>; special tokens are kept unless <paramref name="skipSpecialTokens"/>.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        if (hf != null) return hf.Decode(ids, skipSpecialTokens);
        if (skipSpecialTokens) ids = ids.Where(id => !sp!.SpecialTokens?.Values.Contains(id) ?? true);
        return sp!.Decode(ids, !skipSpecialTokens);
    }

    public int? TokenToId(string token) =>
        hf != null ? hf.TokenToId(token)
        : sp!.SpecialTokens != null && sp.SpecialTokens.TryGetValue(token, out var s) ? s
        : sp.Vocabulary.TryGetValue(token, out var id) ? id : null;

    /// <summary>Ids of the tokens that end generation: eos_token, &lt;eos&gt; and &lt;end_of_turn&gt; (Gemma 3's generation_config uses [1, 106]).</summary>
    public IReadOnlyList<int> StopTokenIds()
    {
        var ids = new List<int> { EosId };
        foreach (var t in new[] { "<eos>", Special.EndOfTurn })
            if (TokenToId(t) is { } id && !ids.Contains(id)) ids.Add(id);
        return ids;
    }
}
