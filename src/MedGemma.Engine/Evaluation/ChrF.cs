using MedGemma.Engine.Tokenization;

namespace MedGemma.Engine.Evaluation;

/// <summary>
/// chrF as sacrebleu 2.x computes it with its defaults: character n-grams of orders 1–6 over the text with its
/// whitespace removed, case kept, β = 2, precision and recall averaged over the orders both sides have; the corpus
/// score pools every pair's counts. Scores run 0–100.
/// </summary>
public static class ChrF
{
    const int Order = 6;
    const double Beta = 2;

    /// <summary>Per order: hypothesis n-grams (0 when the reference has none of that order), reference n-grams, matches.</summary>
    internal static long[] Count(string hypothesis, string reference)
    {
        ArgumentNullException.ThrowIfNull(hypothesis);
        ArgumentNullException.ThrowIfNull(reference);
        var hyp = PyText.CodePoints(string.Concat(PyText.Split(hypothesis)));
        var refPoints = PyText.CodePoints(string.Concat(PyText.Split(reference)));
        var stats = new long[3 * Order];
        for (int n = 1; n <= Order; n++)
        {
            var h = NGrams.Count(hyp, n, "");
            var r = NGrams.Count(refPoints, n, "");
            long hypCount = 0, match = 0;
            foreach (var (gram, count) in h)
            {
                hypCount += count;
                if (r.TryGetValue(gram, out var rc)) match += Math.Min(count, rc);
            }
            stats[3 * (n - 1)] = r.Count > 0 ? hypCount : 0;
            stats[3 * (n - 1) + 1] = r.Values.Sum();
            stats[3 * (n - 1) + 2] = match;
        }
        return stats;
    }

    public static double Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references)
    {
        CaptionScores.CheckPairs(hypotheses, references);
        var total = new long[3 * Order];
        for (int i = 0; i < hypotheses.Count; i++)
        {
            var s = Count(hypotheses[i], references[i]);
            for (int k = 0; k < total.Length; k++) total[k] += s[k];
        }
        return Score(total);
    }

    public static double Sentence(string hypothesis, string reference) => Score(Count(hypothesis, reference));

    /// <summary>sacrebleu's <c>CHRF._compute_f_score</c> without eps smoothing (its default).</summary>
    internal static double Score(long[] stats)
    {
        const double factor = Beta * Beta;
        double avgPrec = 0, avgRec = 0;
        int effective = 0;
        for (int i = 0; i < Order; i++)
        {
            var (hyp, refCount, match) = (stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]);
            if (hyp > 0 && refCount > 0)
            {
                avgPrec += (double)match / hyp;
                avgRec += (double)match / refCount;
                effective++;
            }
        }
        if (effective == 0) return 0.0;
        avgPrec /= effective;
        avgRec /= effective;
        if (avgPrec + avgRec == 0) return 0.0;
        return 100 * ((1 + factor) * avgPrec * avgRec / (factor * avgPrec + avgRec));
    }
}
