using System.Text.Json;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Tokenization;

/// <summary>
/// Exact ids, tokens and decoded text against Hugging Face tokenizers on the real Gemma 3 tokenizer.json.
/// Case files: $MEDGEMMA_TOKENIZER_CASES (':'-separated) when set, else tests/fixtures/tokenizer/tokenizer_cases.json.
/// </summary>
[Trait("Category", "Tokenizer")]
public class TokenizerCaseTests
{
    public sealed record Case(string File, int Index, string Text, int[] Ids, int[] IdsWithBos, string[]? Tokens, string? Decoded);

    public static IReadOnlyList<string> CaseFiles() =>
        Fixtures.CaseFiles("MEDGEMMA_TOKENIZER_CASES", Path.Combine(Fixtures.Root, "tokenizer", "tokenizer_cases.json"));

    public static List<Case> LoadCases()
    {
        var cases = new List<Case>();
        foreach (var file in CaseFiles())
        {
            Assert.True(File.Exists(file), $"tokenizer case file not found: {file}");
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var list = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement : doc.RootElement.GetProperty("cases");
            var i = 0;
            foreach (var c in list.EnumerateArray())
            {
                cases.Add(new Case(file, i++, c.GetProperty("text").GetString()!,
                    c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    c.GetProperty("ids_with_bos").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    c.TryGetProperty("tokens", out var t) ? t.EnumerateArray().Select(e => e.GetString()!).ToArray() : null,
                    c.TryGetProperty("decoded", out var d) ? d.GetString() : null));
            }
        }
        Assert.NotEmpty(cases);
        return cases;
    }

    static string Name(Case c) => $"{Path.GetFileName(c.File)}#{c.Index} {JsonSerializer.Serialize(c.Text)}";

    [Fact]
    public void IdsMatchWithAndWithoutBos()
    {
        var tok = SharedTokenizer.Snapshot;
        var failures = new List<string>();
        foreach (var c in LoadCases())
        {
            var ids = tok.Encode(c.Text);
            if (!ids.SequenceEqual(c.Ids)) failures.Add($"{Name(c)}: ids [{string.Join(",", ids)}] expected [{string.Join(",", c.Ids)}]");
            var withBos = tok.Encode(c.Text, addBos: true);
            if (!withBos.SequenceEqual(c.IdsWithBos)) failures.Add($"{Name(c)}: ids_with_bos [{string.Join(",", withBos)}] expected [{string.Join(",", c.IdsWithBos)}]");
            // The Tokenizer-API path adds the template's <bos> like tokenizers' encode(add_special_tokens=True).
            var viaApi = SharedTokenizer.Hf.EncodeToIds(c.Text);
            if (!viaApi.SequenceEqual(c.IdsWithBos)) failures.Add($"{Name(c)}: Tokenizer.EncodeToIds [{string.Join(",", viaApi)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TokensAndDecodedTextMatch()
    {
        var hf = SharedTokenizer.Hf;
        var failures = new List<string>();
        foreach (var c in LoadCases())
        {
            if (c.Tokens != null)
            {
                var tokens = hf.EncodeToTokens(c.Text, out _).Skip(1).Select(t => t.Value).ToArray();
                if (!tokens.SequenceEqual(c.Tokens)) failures.Add($"{Name(c)}: tokens {JsonSerializer.Serialize(tokens)}");
            }
            if (c.Decoded != null)
            {
                var decoded = SharedTokenizer.Snapshot.Decode(c.Ids);
                if (decoded != c.Decoded) failures.Add($"{Name(c)}: decoded {JsonSerializer.Serialize(decoded)}");
                var decodedWithBos = SharedTokenizer.Snapshot.Decode(c.IdsWithBos);
                if (decodedWithBos != "<bos>" + c.Decoded) failures.Add($"{Name(c)}: decoded with bos {JsonSerializer.Serialize(decodedWithBos)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void OffsetsCoverTheOriginalTextInOrder()
    {
        var hf = SharedTokenizer.Hf;
        foreach (var c in LoadCases())
        {
            var tokens = hf.EncodeToTokens(c.Text, out var normalized).Skip(1).ToList();
            Assert.Null(normalized);
            var end = 0;
            foreach (var t in tokens)
            {
                var (start, stop) = (t.Offset.Start.Value, t.Offset.End.Value);
                // Byte-fallback tokens of one character share that character's range.
                Assert.True(start == end || (start < end && stop == end), $"{Name(c)}: token {t.Value} at {start}..{stop} after {end}");
                end = stop;
            }
            Assert.Equal(c.Text.Length, end);
        }
    }
}
