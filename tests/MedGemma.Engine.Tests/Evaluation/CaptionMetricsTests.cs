using System.Text.Json.Nodes;
using MedGemma.Engine.Evaluation;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Evaluation;

/// <summary>
/// BLEU, chrF and ROUGE against the reference's numbers (sacrebleu 2.6.0, torchmetrics) on caption pairs, and against
/// the reference's definitions on text the fixture lacks: 13a tokenization, smoothing, empty and short captions,
/// non-ASCII text. Golden files: $MEDGEMMA_METRICS_CASES (':'-separated) when set, else
/// tests/fixtures/metrics/caption_metrics_golden.json.
/// </summary>
public sealed class CaptionMetricsTests
{
    public static TheoryData<string> GoldenFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Fixtures.CaseFiles("MEDGEMMA_METRICS_CASES", Path.Combine(Fixtures.Root, "metrics", "caption_metrics_golden.json"))) data.Add(f);
        return data;
    }

    sealed record GoldenSet(JsonObject Json, string[] Hypotheses, string[] References);

    static GoldenSet Load(string file)
    {
        Assert.True(File.Exists(file), $"metrics golden file not found: {file}");
        var json = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        return new GoldenSet(json, json["hypotheses"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray(),
            json["references"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());
    }

    static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void CorpusAndSentenceScoresMatchTheReference(string file)
    {
        var (golden, hypotheses, references) = Load(file);
        Close(golden["corpus_bleu"]!.GetValue<double>(), Bleu.Corpus(hypotheses, references), "corpus BLEU");
        Close(golden["corpus_chrf"]!.GetValue<double>(), ChrF.Corpus(hypotheses, references), "corpus chrF");
        var sentence = golden["sentence_bleu"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        Assert.Equal(hypotheses.Length, sentence.Length);
        for (int i = 0; i < sentence.Length; i++) Close(sentence[i], Bleu.Sentence(hypotheses[i], references[i]), $"sentence BLEU {i}");
    }

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void RougePerPairMatchesTheReference(string file)
    {
        var (golden, hypotheses, references) = Load(file);
        var rows = golden["rouge_per_pair_torchmetrics"]!.AsArray();
        Assert.Equal(hypotheses.Length, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var (r1, r2, rl) = Rouge.Score(hypotheses[i], references[i]);
            foreach (var (name, score) in new[] { ("rouge1", r1), ("rouge2", r2), ("rougeL", rl) })
            {
                // torchmetrics holds float32: the golden values are float32 widened to double, so they compare exactly.
                Assert.Equal((float)rows[i]![$"{name}_precision"]!.GetValue<double>(), score.Precision);
                Assert.Equal((float)rows[i]![$"{name}_recall"]!.GetValue<double>(), score.Recall);
                Assert.Equal((float)rows[i]![$"{name}_fmeasure"]!.GetValue<double>(), score.FMeasure);
            }
        }
    }

    [Theory]
    // Punctuation and symbols split off; '.' and ',' stay inside numbers; '-' splits after a digit only; an
    // apostrophe stays; HTML entities are unescaped; "-\n" joins a word.
    [InlineData("Dose: 5.5 mg/kg, 1,000 units.", "Dose : 5.5 mg / kg , 1,000 units .")]
    [InlineData("T2-weighted 3-4 cm left-sided", "T2 - weighted 3 - 4 cm left-sided")]
    [InlineData("patient's \"left\" (R) side", "patient's \" left \" ( R ) side")]
    [InlineData("a &amp; b &lt;c&gt; &quot;d&quot;", "a & b < c > \" d \"")]
    [InlineData("hyper-\ndense\nlesion  ", "hyperdense lesion")]
    [InlineData("x.y 3.x x.3 end.", "x . y 3 . x x . 3 end .")]
    [InlineData("", "")]
    // Python's whitespace (U+001C counts, no-break space too); only ASCII symbols split off.
    [InlineData("a\u001cb\u00a0c 3.-4 ©x ½,5 ≥3", "a b c 3 . -4 ©x ½ , 5 ≥3")]
    public void Tokenizer13aSplitsAsSacrebleu(string line, string expected) =>
        Assert.Equal(expected, string.Join(' ', Tokenizer13a.Tokenize(line)));

    [Fact]
    public void BleuFollowsSacrebleusDefinition()
    {
        // Identical 4+ token sentences: 100. No 4-gram shared: corpus BLEU with exp smoothing is not 0 but small.
        Close(100, Bleu.Sentence("no acute cardiopulmonary process", "no acute cardiopulmonary process"), "identical");
        // Empty hypothesis or no match at all: 0.
        Assert.Equal(0, Bleu.Sentence("", "normal chest"));
        Assert.Equal(0, Bleu.Sentence("alpha beta", "gamma delta"));
        // Hand-computed: hyp "a b c", ref "a b d e". 1-grams 2/3, 2-grams 1/2, 3-grams 0/1 → exp smoothing 100/(2·1);
        // effective order 3; brevity penalty exp(1 − 4/3).
        var expected = Math.Exp(1 - 4.0 / 3) * Math.Exp((Math.Log(200.0 / 3) + Math.Log(50) + Math.Log(50)) / 3);
        Close(expected, Bleu.Sentence("a b c", "a b d e"), "short sentence");
        // The corpus score does not use the effective order: a 3-token corpus has no 4-grams, so log(0) ends it.
        Assert.True(Bleu.Corpus(["a b c"], ["a b d e"]) < 1e-300);
    }

    [Fact]
    public void ChrFCountsCodePointsWithoutWhitespace()
    {
        Close(100, ChrF.Sentence("胸部 X 光片 🫁", "胸部X光片🫁"), "whitespace does not count");
        Assert.Equal(0, ChrF.Sentence("", "anything"));
        // Hand-computed: "ab" against "ac": 1-grams P = R = 1/2, 2-grams P = R = 0 (both sides have one) → mean P = R = 1/4.
        Close(25, ChrF.Sentence("ab", "ac"), "two letters");
        // An emoji is one character: "🫁a" against "🫁b" has the same score as "xa" against "xb".
        Close(ChrF.Sentence("xa", "xb"), ChrF.Sentence("🫁a", "🫁b"), "surrogate pair");
    }

    [Fact]
    public void RougeSplitsOnEverythingButAsciiLettersAndDigits()
    {
        Assert.Equal(["r", "ntgen", "t2", "flair", "k", "i", "x"], Rouge.Tokens("Röntgen T2/FLAIR \u212a \u0130x"));
        var (r1, r2, rl) = Rouge.Score("the cat sat", "the cat was sat");
        Assert.Equal((1f, 0.75f), (r1.Precision, r1.Recall));
        Assert.Equal((0.5f, 1f / 3), (r2.Precision, r2.Recall));
        Assert.Equal(1f, rl.Precision);
        Assert.Equal(RougeScore.Zero, Rouge.Score("", "something").Rouge1);
    }

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void SummaryPoolsCorpusScoresAndAveragesRouge(string file)
    {
        var (golden, hypotheses, references) = Load(file);
        var summary = CaptionScores.Summary(hypotheses, references);
        Assert.Equal(hypotheses.Length, summary.Count);
        Close(golden["corpus_bleu"]!.GetValue<double>(), summary.Bleu, "summary BLEU");
        Close(golden["corpus_chrf"]!.GetValue<double>(), summary.ChrF, "summary chrF");
        var rougeL = golden["rouge_per_pair_torchmetrics"]!.AsArray().Average(r => (double)(float)r!["rougeL_fmeasure"]!.GetValue<double>());
        Close(rougeL, summary.RougeL, "mean ROUGE-L");
        var pair = CaptionScores.Pair(0, hypotheses[0], references[0]);
        Close(golden["sentence_bleu"]![0]!.GetValue<double>(), pair.Bleu, "pair BLEU");
        Assert.Equal("CaptionCountMismatch", Assert.Throws<MedGemmaException>(() => CaptionScores.Summary(hypotheses, references[1..])).ErrorId);
        Assert.Equal("NoCaptionPairs", Assert.Throws<MedGemmaException>(() => CaptionScores.Summary([], [])).ErrorId);
    }
}
