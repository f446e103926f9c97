namespace MedGemma.Engine.Evaluation;

/// <summary>
/// BLEU as sacrebleu 2.x computes it with its defaults: 13a tokens, case kept, n-grams up to 4, one reference per
/// hypothesis, "exp" smoothing (a precision with no match counts as 1/(2^k · total)); the corpus score pools every
/// pair's counts, the sentence score (<c>sentence_bleu</c>) also uses the effective order (precisions up to the
/// longest n-gram the hypothesis has). Scores run 0–100.
/// </summary>
public static class Bleu
{
    const int MaxOrder = 4;

    /// <summary>One pair's counts: hypothesis and reference lengths in tokens, matched and total hypothesis n-grams per order.</summary>
    internal readonly record struct Stats(int HypLength, int RefLength, int[] Correct, int[] Total)
    {
        public static Stats Zero => new(0, 0, new int[MaxOrder], new int[MaxOrder]);

        public Stats Add(Stats o) =>
            new(HypLength + o.HypLength, RefLength + o.RefLength, Correct.Zip(o.Correct, (a, b) => a + b).ToArray(), Total.Zip(o.Total, (a, b) => a + b).ToArray());
    }

    public static double Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references)
    {
        CaptionScores.CheckPairs(hypotheses, references);
        var total = Stats.Zero;
        for (int i = 0; i < hypotheses.Count; i++) total = total.Add(Count(hypotheses[i], references[i]));
        return Score(total, effectiveOrder: false);
    }

    public static double Sentence(string hypothesis, string reference) => Score(Count(hypothesis, reference), effectiveOrder: true);

    internal static Stats Count(string hypothesis, string reference)
    {
        ArgumentNullException.ThrowIfNull(hypothesis);
        ArgumentNullException.ThrowIfNull(reference);
        var hyp = Tokenizer13a.Tokenize(hypothesis);
        var refTokens = Tokenizer13a.Tokenize(reference);
        var correct = new int[MaxOrder];
        var total = new int[MaxOrder];
        for (int n = 1; n <= MaxOrder; n++)
        {
            var refCounts = NGrams.Count(refTokens, n, " ");
            foreach (var (gram, count) in NGrams.Count(hyp, n, " "))
            {
                total[n - 1] += count;
                if (refCounts.TryGetValue(gram, out var r)) correct[n - 1] += Math.Min(count, r);
            }
        }
        return new Stats(hyp.Count, refTokens.Count, correct, total);
    }

    /// <summary>sacrebleu's <c>BLEU.compute_bleu</c> with smooth_method "exp".</summary>
    internal static double Score(Stats s, bool effectiveOrder)
    {
        var bp = s.HypLength < s.RefLength ? (s.HypLength > 0 ? Math.Exp(1 - (double)s.RefLength / s.HypLength) : 0.0) : 1.0;
        if (s.Correct.All(c => c == 0)) return 0.0;
        var precisions = new double[MaxOrder];
        double smooth = 1;
        int order = MaxOrder;
        for (int n = 1; n <= MaxOrder; n++)
        {
            if (s.Total[n - 1] == 0) break;
            if (effectiveOrder) order = n;
            if (s.Correct[n - 1] == 0)
            {
                smooth *= 2;
                precisions[n - 1] = 100.0 / (smooth * s.Total[n - 1]);
            }
            else precisions[n - 1] = 100.0 * s.Correct[n - 1] / s.Total[n - 1];
        }
        return bp * Math.Exp(precisions.Take(order).Sum(p => p == 0 ? -9999999999.0 : Math.Log(p)) / order);
    }
}
