using System.Management.Automation;
using MedGemma.Engine;
using MedGemma.Engine.Evaluation;

namespace MedGemma.PowerShell.Commands;

/// <summary>
/// Scores generated captions against reference reports (BLEU, chrF, ROUGE-1/2/L as sacrebleu and torchmetrics
/// compute them): one summary for everything piped in, or one score per caption with -PerCaption.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "MedicalCaption")]
[OutputType(typeof(CaptionScoreSummary), typeof(CaptionPairScore))]
public sealed class MeasureMedicalCaptionCommand : MedGemmaCmdlet
{
    /// <summary>The generated caption (bound from Get-MedicalCaption's Caption).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    public string Caption { get; set; } = "";

    /// <summary>The reference caption (bound from Get-MedicalCaption's Reference, which -ManifestPath fills).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [AllowNull]
    public string? Reference { get; set; }

    [Parameter]
    public SwitchParameter PerCaption { get; set; }

    readonly List<string> _captions = new();
    readonly List<string> _references = new();
    int _seen;

    protected override void ProcessRecord()
    {
        var index = _seen++;
        if (Reference is null)
        {
            Report(new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "MissingReference",
                $"Caption {index + 1} (\"{Shorten(Caption)}\") has no reference to be scored against: caption a manifest " +
                "(Get-MedicalCaption -ManifestPath), whose captions become each output's Reference, or give -Reference.", Caption));
            return;
        }
        _captions.Add(Caption);
        _references.Add(Reference);
        if (PerCaption) WriteObject(CaptionScores.Pair(index, Caption, Reference));
    }

    protected override void EndProcessing()
    {
        if (PerCaption) return;
        try { WriteObject(CaptionScores.Summary(_captions, _references)); }
        catch (MedGemmaException e) { Report(e); }
    }

    static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";
}
