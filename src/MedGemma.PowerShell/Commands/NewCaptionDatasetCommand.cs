using System.Management.Automation;
using MedGemma.Engine;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell.Commands;

/// <summary>Builds train.json/val.json from images and captions; every image header is checked first.</summary>
[Cmdlet(VerbsCommon.New, "CaptionDataset", DefaultParameterSetName = FolderSet, SupportsShouldProcess = true)]
[OutputType(typeof(CaptionDatasetSummary), typeof(CaptionDatasetEntry))]
public sealed class NewCaptionDatasetCommand : MedGemmaCmdlet
{
    const string FolderSet = "Folder";
    const string CaptionFileSet = "CaptionFile";
    const string PipelineSet = "Pipeline";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = FolderSet)]
    [Parameter(Position = 0, ParameterSetName = CaptionFileSet)]
    [Parameter(ParameterSetName = PipelineSet)]
    [ValidateNotNullOrEmpty]
    public string ImageFolder { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = CaptionFileSet)]
    [ValidateNotNullOrEmpty]
    public string CaptionFile { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PipelineSet)]
    [Alias("FullName", "ImagePath", "File")]
    [AllowEmptyString]
    public string Image { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = PipelineSet)]
    [Alias("Text", "Report", "Findings")]
    [AllowEmptyString]
    public string Caption { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string OutputPath { get; set; } = "dataset";

    [Parameter]
    [ValidateRange(0.0, 0.99)]
    public double ValidationFraction { get; set; } = 0.2;

    [Parameter]
    public int Seed { get; set; } = 42;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    readonly List<CaptionSource> _sources = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName != PipelineSet) return;
        var baseFolder = MyInvocation.BoundParameters.ContainsKey(nameof(ImageFolder)) ? FileSystemPath(ImageFolder) : CurrentDirectory;
        _sources.Add(new CaptionSource(Image, Caption, baseFolder, $"pipeline item {_sources.Count} ('{Image}')"));
    }

    protected override void EndProcessing()
    {
        try
        {
            switch (ParameterSetName)
            {
                case CaptionFileSet:
                    var folder = MyInvocation.BoundParameters.ContainsKey(nameof(ImageFolder)) ? FileSystemPath(ImageFolder) : null;
                    _sources.AddRange(CaptionSources.FromCaptionFile(FileSystemPath(CaptionFile), folder));
                    break;
                case FolderSet:
                    _sources.AddRange(CaptionSources.FromSidecarText(FileSystemPath(ImageFolder)));
                    break;
            }
        }
        catch (MedGemmaException e) { Fail(e, MyInvocation.BoundParameters.ContainsKey(nameof(CaptionFile)) ? CaptionFile : ImageFolder); }

        var entries = Validate(out int skipped, out int duplicates);
        if (entries.Count == 0)
            ThrowTerminatingError(ErrorRecords.Create("EmptyDataset", ErrorCategory.InvalidData,
                $"No usable (image, caption) pair among {_sources.Count} input(s); nothing written.", _sources.Count == 0 ? null : _sources[0].Origin));

        CaptionDataset.Split(entries, ValidationFraction, Seed);
        var output = FileSystemPath(OutputPath);
        int val = entries.Count(e => e.Split == "validation");
        var action = $"Write {entries.Count - val} training and {val} validation entries";
        if (!ShouldProcess(Path.Combine(output, CaptionDataset.TrainFileName) + ", " + Path.Combine(output, CaptionDataset.ValidationFileName), action)) return;

        (string Train, string Validation) written = default;
        try { written = CaptionDataset.Write(output, entries); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MedGemmaException) { Fail(e, output); }

        if (PassThru) WriteObject(entries, enumerateCollection: true);
        else
            WriteObject(new CaptionDatasetSummary
            {
                TrainManifest = written.Train, ValidationManifest = written.Validation,
                TrainCount = entries.Count - val, ValidationCount = val, Skipped = skipped, Duplicates = duplicates,
            });
    }

    List<CaptionDatasetEntry> Validate(out int skipped, out int duplicates)
    {
        var entries = new List<CaptionDatasetEntry>();
        var seen = new Dictionary<string, string>(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        skipped = duplicates = 0;
        for (int i = 0; i < _sources.Count; i++)
        {
            if (Cancellation.IsCancellationRequested) throw new PipelineStoppedException();
            var source = _sources[i];
            if (i % 16 == 0 || i == _sources.Count - 1)
                WriteProgress(new ProgressRecord(1, "New-CaptionDataset", $"Checking image {i + 1} of {_sources.Count}: {source.Image}")
                    { PercentComplete = (int)(100L * i / Math.Max(_sources.Count, 1)) });
            try
            {
                var entry = CaptionDataset.Validate(source);
                if (seen.TryGetValue(entry.FullPath, out var first))
                {
                    duplicates++;
                    WriteWarning($"{source.Origin}: '{source.Image}' is the same image as {first}; keeping the first.");
                    continue;
                }
                seen[entry.FullPath] = source.Origin;
                entries.Add(entry);
            }
            catch (Exception e) when (e is MedGemmaException or IOException or UnauthorizedAccessException)
            {
                skipped++;
                Report(e, source);
            }
        }
        WriteProgress(new ProgressRecord(1, "New-CaptionDataset", "Done") { RecordType = ProgressRecordType.Completed });
        return entries;
    }
}
