namespace MedGemma.Engine.Evaluation;

/// <summary>n-gram counting shared by the metrics: words (BLEU, ROUGE) or code points (chrF).</summary>
internal static class NGrams
{
    /// <summary>
    /// How often each run of <paramref name="n"/> consecutive items occurs, keyed by the items joined with
    /// <paramref name="separator"/>: a space for words (which never hold one), nothing for single code points.
    /// </summary>
    public static Dictionary<string, int> Count(IReadOnlyList<string> items, int n, string separator)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + n <= items.Count; i++)
        {
            var key = string.Join(separator, Enumerable.Range(i, n).Select(k => items[k]));
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }
}
