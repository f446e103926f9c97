namespace MedGemma.Engine.Evaluation;

/// <summary>How one generated caption compares with its reference.</summary>
public sealed record CaptionPairScore(int Index, string Caption, string Reference, double Bleu, double ChrF, RougeScore Rouge1, RougeScore Rouge2, RougeScore RougeL);

/// <summary>
/// How a set of generated captions compares with their references: corpus BLEU and chrF (counts pooled over all
/// pairs, as sacrebleu's corpus scores) and the mean ROUGE F1 per pair (as torchmetrics' ROUGEScore accumulates).
/// </summary>
public sealed record CaptionScoreSummary(int Count, double Bleu, double ChrF, double Rouge1, double Rouge2, double RougeL);

/// <summary>
/// Caption quality metrics against reference reports, computed as the Python reference computes them (sacrebleu 2.x
/// BLEU and chrF with their defaults, torchmetrics ROUGE), so numbers from a PowerShell run and from a notebook agree.
/// </summary>
public static class CaptionScores
{
    public static CaptionPairScore Pair(int index, string caption, string reference)
    {
        var (r1, r2, rl) = Rouge.Score(caption, reference);
        return new CaptionPairScore(index, caption, reference, Bleu.Sentence(caption, reference), ChrF.Sentence(caption, reference), r1, r2, rl);
    }

    /// <summary>The corpus scores of <paramref name="captions"/> against <paramref name="references"/> (same length, at least one pair).</summary>
    public static CaptionScoreSummary Summary(IReadOnlyList<string> captions, IReadOnlyList<string> references)
    {
        CheckPairs(captions, references);
        if (captions.Count == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "NoCaptionPairs", "There are no caption/reference pairs to score.");
        var rouge = captions.Select((c, i) => Rouge.Score(c, references[i])).ToList();
        return new CaptionScoreSummary(captions.Count, Bleu.Corpus(captions, references), ChrF.Corpus(captions, references),
            rouge.Average(r => (double)r.Rouge1.FMeasure), rouge.Average(r => (double)r.Rouge2.FMeasure), rouge.Average(r => (double)r.RougeL.FMeasure));
    }

    internal static void CheckPairs(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references)
    {
        ArgumentNullException.ThrowIfNull(hypotheses);
        ArgumentNullException.ThrowIfNull(references);
        if (hypotheses.Count != references.Count)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "CaptionCountMismatch",
                $"{hypotheses.Count} captions but {references.Count} references: each caption needs exactly one reference.");
    }
}
