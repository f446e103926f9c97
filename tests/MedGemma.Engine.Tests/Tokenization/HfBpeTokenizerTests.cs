using System.Buffers;
using System.Text;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Tokenization;
using Microsoft.ML.Tokenizers;

namespace MedGemma.Engine.Tests.Tokenization;

/// <summary>The tokenizer's own paths (fast paths, the Tokenizer abstraction, errors); exact parity is in TokenizerCaseTests.</summary>
[Trait("Category", "Tokenizer")]
public class HfBpeTokenizerTests
{
    // Whole-word BPE with the heap always: the plain algorithm, no word splitting, no scan.
    static readonly Lazy<HfBpeTokenizer> Plain = new(() =>
        new HfBpeTokenizer(HfTokenizerDefinition.Load(TokenizerAssets.TokenizerJsonPath()), "plain") { SplitWordsAtMeta = false, HeapThreshold = 0 });

    static IEnumerable<string> FuzzTexts()
    {
        var words = TokenizerCaseTests.LoadCases().SelectMany(c => c.Text.Split(' ')).Where(w => w.Length > 0).ToArray();
        string[] odd = [" ", "  ", ">", "> </", "<", "</", "\u2581", "\n", "\t", "\r\n", "🫁", "é", "\u0301", "胸部", "\uD83D", "<0x41>", "<start_of_turn>", "<unk>", "##", "'s", "-", "..."];
        var rng = new Random(20240611);
        for (var n = 0; n < 400; n++)
        {
            var sb = new StringBuilder();
            var parts = rng.Next(1, 24);
            for (var p = 0; p < parts; p++)
            {
                sb.Append(rng.Next(4) == 0 ? odd[rng.Next(odd.Length)] : words[rng.Next(words.Length)]);
                if (rng.Next(3) > 0) sb.Append(rng.Next(6) == 0 ? "  " : " ");
            }
            yield return sb.ToString();
        }
        // Long words take the heap in the fast tokenizer too.
        yield return string.Concat(Enumerable.Repeat("胸部X光片显示右下肺叶实变。", 40));
        yield return "https://example.org/" + string.Concat(Enumerable.Repeat("a1b2c3/", 60));
        yield return new string('▁', 300) + new string(' ', 300) + "x";
        yield return "<table>" + string.Concat(Enumerable.Repeat("<tr> </tr> <td>a</td>", 30)) + "</table>";
    }

    [Fact]
    public void FastPathsGiveTheSameIdsAsPlainBpe()
    {
        var fast = SharedTokenizer.Hf;
        Assert.True(fast.SplitWordsAtMeta);
        var failures = new List<string>();
        foreach (var text in FuzzTexts())
        {
            var a = fast.EncodeToIds(text, false);
            var b = Plain.Value.EncodeToIds(text, false);
            if (!a.SequenceEqual(b)) failures.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: fast [{string.Join(",", a)}] plain [{string.Join(",", b)}]");
            // Round trip: Gemma's decoder restores the text exactly, except lone surrogates (not UTF-8)
            // and a literal "▁", which decodes as a space.
            if (!text.Contains('\uD83D') && !text.Contains('\u2581') && fast.Decode(a) != text) failures.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: decodes to {System.Text.Json.JsonSerializer.Serialize(fast.Decode(a))}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void RepeatedEncodingHitsTheCacheWithoutChangingIds()
    {
        var tok = SharedTokenizer.Hf;
        const string text = "Lungs are clear bilaterally. Heart size is normal. No pneumothorax.";
        var first = tok.EncodeToIds(text, true);
        for (var i = 0; i < 3; i++) Assert.Equal(first, tok.EncodeToIds(text, true));
        var results = new int[8][];
        Parallel.For(0, 8, i => results[i] = tok.EncodeToIds(text, true));
        Assert.All(results, r => Assert.Equal(first, r));
    }

    [Fact]
    public void TokenizerAbstractionMembersAgree()
    {
        Tokenizer tok = SharedTokenizer.Hf;
        const string text = "Cardiomegaly with cardiothoracic ratio ~0.58; emoji 🫁 test.";
        var ids = tok.EncodeToIds(text);
        Assert.Equal(SharedTokenizer.Hf.EncodeToIds(text, true), ids);
        Assert.Equal(ids.Count, tok.CountTokens(text));
        Assert.Equal(ids, tok.EncodeToIds(text.AsSpan()));
        Assert.Equal(ids, tok.EncodeToTokens(text, out _).Select(t => t.Id));

        // Truncation stops at a token boundary and never splits the byte tokens of one character.
        var part = tok.EncodeToIds(text, 5, out var normalized, out var consumed);
        Assert.Null(normalized);
        Assert.Equal(ids.Take(5), part);
        Assert.Equal(tok.EncodeToIds(text[..consumed]), part);
        var emoji = text.IndexOf("🫁", StringComparison.Ordinal);
        var beforeEmoji = tok.EncodeToIds(text[..emoji]).Count;
        var cut = tok.EncodeToIds(text, beforeEmoji + 2, out _, out var consumedAtEmoji);
        Assert.Equal(beforeEmoji, cut.Count);
        Assert.Equal(emoji, consumedAtEmoji);

        // A budget inside one character's byte tokens stops before the character.
        Assert.Equal([2], tok.EncodeToIds("🫁", 3, out _, out var consumedNone));
        Assert.Equal(0, consumedNone);
        var index = tok.GetIndexByTokenCount(text, 5, out _, out var count);
        Assert.Equal(5, count);
        Assert.Equal(consumed, index);
        var fromEnd = tok.GetIndexByTokenCountFromEnd(text, 2, out _, out var countFromEnd);
        Assert.Equal(2, countFromEnd);
        Assert.Equal(ids.Skip(ids.Count - 2), SharedTokenizer.Hf.EncodeToIds(text[fromEnd..], false));
        // The 3rd token from the end is the last of the emoji's four byte tokens: it is not cut off alone.
        tok.GetIndexByTokenCountFromEnd(text, 3, out _, out countFromEnd);
        Assert.Equal(2, countFromEnd);
    }

    [Fact]
    public void DecodeIntoASmallBufferStopsAtATokenBoundary()
    {
        Tokenizer tok = SharedTokenizer.Hf;
        var ids = tok.EncodeToIds("<start_of_turn>user\nDescribe 胸部 🫁<end_of_turn>");
        var full = tok.Decode(ids);
        Assert.Equal("<bos><start_of_turn>user\nDescribe 胸部 🫁<end_of_turn>", full);
        var buffer = new char[full.Length];
        Assert.Equal(OperationStatus.Done, tok.Decode(ids, buffer, out var allIds, out var written));
        Assert.Equal(ids.Count, allIds);
        Assert.Equal(full, new string(buffer, 0, written));

        var small = new char[30];
        Assert.Equal(OperationStatus.DestinationTooSmall, tok.Decode(ids, small, out var someIds, out var someChars));
        Assert.InRange(someIds, 1, ids.Count - 1);
        Assert.Equal(tok.Decode(ids.Take(someIds)), new string(small, 0, someChars));
    }

    [Fact]
    public void DecodeFollowsTokenizersForBytesSpecialsAndUnknownIds()
    {
        var tok = SharedTokenizer.Hf;
        int B(string hex) => tok.TokenToId($"<0x{hex}>")!.Value;
        // Complete UTF-8 sequence → the character; an incomplete one → one U+FFFD per byte.
        Assert.Equal("叫", tok.Decode([B("E5"), B("8F"), B("AB")]));
        Assert.Equal("\uFFFD\uFFFDa", tok.Decode([B("E5"), B("8F"), tok.TokenToId("a")!.Value]));
        var ids = tok.EncodeToIds("<start_of_turn>model\nhello<end_of_turn>", true);
        Assert.Equal("model\nhello", tok.Decode(ids, skipSpecialTokens: true));
        // Ids past the tokenizer (the model's vocabulary is padded to 262,208) are dropped, as in tokenizers.
        Assert.Equal("hello", tok.Decode([tok.TokenToId("hello")!.Value, 262_200, -1]));
    }

    [Fact]
    public void BadFilesFailWithTheFileAsTarget()
    {
        var dir = Directory.CreateTempSubdirectory("medgemma-tok-");
        try
        {
            var missing = Path.Combine(dir.FullName, "tokenizer.json");
            var e = Assert.Throws<MedGemmaException>(() => HfBpeTokenizer.FromFile(missing));
            Assert.Equal(MedGemmaErrorKind.NotFound, e.Kind);
            Assert.Equal(missing, e.Target);

            e = Assert.Throws<MedGemmaException>(() => GemmaTokenizer.FromModelFolder(dir.FullName));
            Assert.Equal(MedGemmaErrorKind.NotFound, e.Kind);

            File.WriteAllText(missing, "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [[\"a\", ");
            e = Assert.Throws<MedGemmaException>(() => HfBpeTokenizer.FromFile(missing));
            Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
            Assert.Equal(missing, e.Target);

            File.WriteAllText(missing, """{"model": {"type": "WordPiece", "vocab": {"a": 0}, "merges": []}, "normalizer": null, "pre_tokenizer": null, "decoder": null}""");
            e = Assert.Throws<MedGemmaException>(() => HfBpeTokenizer.FromFile(missing));
            Assert.Equal(MedGemmaErrorKind.NotSupported, e.Kind);

            File.WriteAllText(missing, """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}, "normalizer": null, "pre_tokenizer": null, "decoder": null}""");
            e = Assert.Throws<MedGemmaException>(() => HfBpeTokenizer.FromFile(missing));
            Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
            Assert.Contains("merge #0", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void SmallTokenizerJsonFollowsTokenizersSemantics()
    {
        // A hand-made BPE with byte fallback, fused unk, a Prepend+Replace normalizer (Gemma 1/2 style) and a <bos> template.
        var dir = Directory.CreateTempSubdirectory("medgemma-tok-");
        try
        {
            var path = Path.Combine(dir.FullName, "tokenizer.json");
            File.WriteAllText(path, """
            {
              "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<bos>", "special": true}],
              "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
              "pre_tokenizer": null,
              "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                                 "special_tokens": {"<bos>": {"id": "<bos>", "ids": [1], "tokens": ["<bos>"]}}},
              "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
              "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false, "ignore_merges": false,
                        "vocab": {"<unk>": 0, "<bos>": 1, "▁": 2, "a": 3, "b": 4, "▁a": 5, "ab": 6, "▁ab": 7},
                        "merges": [["a", "b"], ["▁", "ab"], ["▁", "a"]]}
            }
            """);
            var tok = HfBpeTokenizer.FromFile(path);
            // "▁ab▁ab": (a,b) twice, leftmost first, then (▁,ab).
            Assert.Equal([1, 7, 7], tok.EncodeToIds("ab ab", true));
            Assert.Equal([7, 7], tok.EncodeToIds("ab ab", false));
            // A run of unknown characters becomes one fused <unk>; this file has no byte fallback.
            Assert.Equal([5, 0, 4], tok.EncodeToIds("axyzb", false));
            Assert.Empty(tok.EncodeToIds("", false));
            Assert.Equal("ab ab", tok.Decode(tok.EncodeToIds("ab ab", true), skipSpecialTokens: true));
        }
        finally { dir.Delete(true); }
    }
}
