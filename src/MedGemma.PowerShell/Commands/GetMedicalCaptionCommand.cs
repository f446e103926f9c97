using System.Management.Automation;
using MedGemma.Engine;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell.Commands;

/// <summary>
/// Captions images from the pipeline with the resident model. Records are batched (-BatchSize) across
/// pipeline input, and the next batch's images are read while one is generated (so captions come out a batch
/// behind a fast input; the first batch and those of a slow input come out at once); output order is input order;
/// an unreadable image is an error for that image only.
/// </summary>
[Cmdlet(VerbsCommon.Get, "MedicalCaption", DefaultParameterSetName = InputSet)]
[OutputType(typeof(CaptionResult))]
public sealed class GetMedicalCaptionCommand : MedGemmaCmdlet
{
    const string InputSet = "Input";
    const string ManifestSet = "Manifest";

    /// <summary>Paths, FileInfo objects, dataset entries (their caption becomes Reference) or any object with a path property.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = InputSet)]
    [Alias("Path", "FullName")]
    public PSObject[] InputObject { get; set; } = Array.Empty<PSObject>();

    [Parameter(Mandatory = true, ParameterSetName = ManifestSet)]
    public string ManifestPath { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Prompt { get; set; } = CaptionSettings.DefaultPrompt;

    [Parameter]
    public string? SystemPrompt { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(LanguageCompleter))]
    public string? Language { get; set; }

    [Parameter]
    [ValidateRange(1, 8192)]
    public int MaxNewTokens { get; set; } = 64;

    [Parameter]
    [ValidateRange(0.0, 10.0)]
    public double Temperature { get; set; }

    [Parameter]
    [ValidateRange(0.0001, 1.0)]
    public double TopP { get; set; } = 1.0;

    [Parameter]
    public long Seed { get; set; } = -1;

    [Parameter]
    [ArgumentCompleter(typeof(AdapterCompleter))]
    public string? Adapter { get; set; }

    [Parameter]
    [ValidateRange(1, 256)]
    public int BatchSize { get; set; } = 4;

    [Parameter]
    public object? Model { get; set; }

    /// <summary>The frame of a multi-frame image (DICOM series, TIFF pages, GIF); default: the middle DICOM frame, else the first.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int Frame { get; set; }

    /// <summary>A DICOM window preset: default, lung, mediastinum, bone, brain, medgemma-rgb (MedGemma's three CT windows as RGB).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(WindowPresetCompleter))]
    public string? Window { get; set; }

    /// <summary>An explicit window centre for DICOM and 16-bit gray images (with -WindowWidth).</summary>
    [Parameter]
    public double WindowCenter { get; set; }

    [Parameter]
    [ValidateRange(1e-9, double.MaxValue)]
    public double WindowWidth { get; set; }

    /// <summary>Refuse images with more pixels than this (checked from the header before decoding).</summary>
    [Parameter]
    [ValidateRange(1L, long.MaxValue)]
    public long MaxPixels { get; set; } = 200_000_000;

    MedGemmaSession? _session;
    CaptionPipeline<object>? _pipeline;
    string _activity = "";
    bool _reportedDecodeSteps;

    protected override void BeginProcessing()
    {
        _session = ResolveModel(Model);
        if (Adapter != null && !_session.Adapters.Any(a => string.Equals(a.Name, Adapter, StringComparison.OrdinalIgnoreCase)))
            Fail(new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterNotFound",
                $"No adapter named '{Adapter}' is loaded into {_session.Name}; load it with Import-LoraAdapter.", Adapter));
        var settings = new CaptionSettings
        {
            ImageOptions = ImageOptions(Window, Bound(nameof(WindowCenter)) ? WindowCenter : null, Bound(nameof(WindowWidth)) ? WindowWidth : null,
                Bound(nameof(Frame)) ? Frame : null, MaxPixels),
            Prompt = Prompt, SystemPrompt = SystemPrompt, Language = Language, MaxNewTokens = MaxNewTokens, Temperature = Temperature,
            TopP = TopP, Seed = Seed >= 0 ? (ulong)Seed : null,
            Adapter = Adapter == null ? null : _session.Adapters.First(a => string.Equals(a.Name, Adapter, StringComparison.OrdinalIgnoreCase)).Name,
        };
        _activity = $"Captioning with {_session.Name}" + (settings.Adapter is { } a ? $" + {a}" : "");
        // The next batch's images are read and resized on other cores while this one is generated.
        _pipeline = new CaptionPipeline<object>(_session, settings, BatchSize, Cancellation);
        CaptionBatchInfo? current = null;
        _pipeline.BatchStarting = b =>
        {
            current = b;
            WriteProgress(new ProgressRecord(1, _activity, $"Images {b.First + 1}-{b.First + b.Count}: {System.IO.Path.GetFileName(b.FirstImagePath)}"));
        };
        _pipeline.Tokens = new SyncProgress<int>(t => WriteProgress(new ProgressRecord(1, _activity,
            $"Images {current!.First + 1}-{current.First + current.Count}: token {t} of at most {MaxNewTokens}") { PercentComplete = Math.Min(100, 100 * t / MaxNewTokens) }));
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ManifestSet)
        {
            IReadOnlyList<CaptionDatasetEntry> entries = Array.Empty<CaptionDatasetEntry>();
            try { entries = CaptionDataset.Read(FileSystemPath(ManifestPath)); }
            catch (Exception e) when (e is not PipelineStoppedException) { Fail(e, ManifestPath); }
            foreach (var entry in entries) Enqueue(new CaptionRequest(entry.FullPath, entry.Caption), entry);
            return;
        }
        foreach (var input in InputObject)
        {
            var request = ToRequest(input);
            if (request != null) Enqueue(request, input);
        }
    }

    protected override void EndProcessing()
    {
        Write(() => _pipeline!.Complete());
        WriteProgress(new ProgressRecord(1, "Get-MedicalCaption", "Done") { RecordType = ProgressRecordType.Completed });
    }

    protected override void DisposeWork() => _pipeline?.Dispose();

    void Enqueue(CaptionRequest request, object input) => Write(() => _pipeline!.Add(request, input));

    CaptionRequest? ToRequest(PSObject input)
    {
        var value = input.BaseObject;
        string? path = null, reference = null;
        switch (value)
        {
            case string s: path = s; break;
            case FileInfo f: path = f.FullName; break;
            case CaptionDatasetEntry e: path = e.FullPath; reference = e.Caption; break;
            case DirectoryInfo d:
                WriteError(ErrorRecords.Create("InputIsFolder", ErrorCategory.InvalidArgument, $"'{d.FullName}' is a folder; pipe its files (Get-ChildItem {d.Name} -File).", input));
                return null;
            default:
                path = Property(input, "FullPath", "FullName", "ImagePath", "Image", "Path", "File");
                reference = Property(input, "Caption", "Reference", "Report", "Text");
                break;
        }
        if (string.IsNullOrWhiteSpace(path))
        {
            WriteError(ErrorRecords.Create("NoImagePath", ErrorCategory.InvalidArgument, $"Input '{input}' has no image path (a string, a file, or an object with a FullName/Image/Path property).", input));
            return null;
        }
        return new CaptionRequest(FileSystemPath(path), reference);
    }

    static string? Property(PSObject o, params string[] names)
    {
        foreach (var n in names)
            if (o.Properties[n]?.Value is { } v && v.ToString() is { Length: > 0 } s) return s;
        return null;
    }

    /// <summary>Writes the outcomes of the batches <paramref name="step"/> generated: captions, or an error per unreadable image.</summary>
    void Write(Func<IReadOnlyList<(CaptionOutcome Outcome, object Input)>> step)
    {
        IReadOnlyList<(CaptionOutcome Outcome, object Input)> outcomes = Array.Empty<(CaptionOutcome, object)>();
        try { outcomes = step(); }
        catch (OperationCanceledException) { throw new PipelineStoppedException(); }
        catch (Exception e) when (e is not PipelineStoppedException) { Fail(e, _pipeline!.CurrentBatch.FirstOrDefault()); }
        foreach (var (outcome, input) in outcomes)
        {
            if (outcome.Result is { } r) WriteObject(r);
            else WriteError(ErrorRecords.From(outcome.Error!, input));
        }
        // Once per call: on a GPU this is where a user learns that decoding fell back from CUDA graphs, and why.
        if (!_reportedDecodeSteps && outcomes.Count > 0 && _session!.DecodeSteps is { } steps)
        {
            WriteVerbose($"Decode steps: {steps}.");
            _reportedDecodeSteps = true;
        }
    }
}
