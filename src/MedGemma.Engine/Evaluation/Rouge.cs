using System.Text.RegularExpressions;
using MedGemma.Engine.Tokenization;

namespace MedGemma.Engine.Evaluation;

/// <summary>Precision, recall and F1 of one ROUGE variant, as float32 values like torchmetrics returns.</summary>
public sealed record RougeScore(float Precision, float Recall, float FMeasure)
{
    public static readonly RougeScore Zero = new(0, 0, 0);
}

/// <summary>
/// ROUGE-1, ROUGE-2 and ROUGE-L as torchmetrics' <c>rouge_score</c> computes them with its defaults: lower-cased,
/// every run of characters other than a–z and 0–9 a word break, no stemming, one reference.
/// </summary>
public static partial class Rouge
{
    [GeneratedRegex("[^a-z0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex NonAlphanumeric();

    internal static string[] Tokens(string text) =>
        NonAlphanumeric().Replace(PyText.LowerForAsciiMatch(text), " ").Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public static (RougeScore Rouge1, RougeScore Rouge2, RougeScore RougeL) Score(string hypothesis, string reference)
    {
        ArgumentNullException.ThrowIfNull(hypothesis);
        ArgumentNullException.ThrowIfNull(reference);
        var pred = Tokens(hypothesis);
        var target = Tokens(reference);
        return (N(pred, target, 1), N(pred, target, 2), L(pred, target));
    }

    static RougeScore N(string[] pred, string[] target, int n)
    {
        var p = NGrams.Count(pred, n, " ");
        var t = NGrams.Count(target, n, " ");
        int predLength = p.Values.Sum(), targetLength = t.Values.Sum();
        if (predLength == 0 || targetLength == 0) return RougeScore.Zero;
        var hits = p.Sum(kv => Math.Min(kv.Value, t.GetValueOrDefault(kv.Key)));
        return Metrics(hits, predLength, targetLength);
    }

    static RougeScore L(string[] pred, string[] target)
    {
        if (pred.Length == 0 || target.Length == 0) return RougeScore.Zero;
        // Longest common subsequence, one row of the table at a time.
        var previous = new int[pred.Length + 1];
        var current = new int[pred.Length + 1];
        foreach (var word in target)
        {
            for (int j = 1; j <= pred.Length; j++)
                current[j] = word == pred[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            (previous, current) = (current, previous);
        }
        return Metrics(previous[pred.Length], pred.Length, target.Length);
    }

    // torchmetrics computes in Python floats (double) and stores float32 tensors.
    static RougeScore Metrics(int hits, int predLength, int targetLength)
    {
        double precision = (double)hits / predLength, recall = (double)hits / targetLength;
        if (precision == 0 && recall == 0) return RougeScore.Zero;
        return new RougeScore((float)precision, (float)recall, (float)(2 * precision * recall / (precision + recall)));
    }
}
