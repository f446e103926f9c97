using MedGemma.Engine.IO;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MedGemma.Engine.Api;

/// <summary>
/// Validates, splits, writes and reads caption manifests. A manifest is a JSON array of
/// {"image": path relative to the manifest's folder with '/' separators, "caption": text}; that is what
/// the trainer reads, so a dataset folder can be moved or copied to another machine as a whole.
/// </summary>
public static class CaptionDataset
{
    public const string TrainFileName = "train.json";
    public const string ValidationFileName = "val.json";

    static readonly JsonSerializerOptions WriteOptions = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Resolves the image and checks its header. Throws <see cref="MedGemmaException"/> naming the entry when it cannot be used.</summary>
    public static CaptionDatasetEntry Validate(CaptionSource source)
    {
        if (string.IsNullOrWhiteSpace(source.Image))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "MissingImage", $"{source.Origin}: no image name.", source.Origin);
        var caption = source.Caption?.Trim();
        if (string.IsNullOrEmpty(caption))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "MissingCaption", $"{source.Origin}: image '{source.Image}' has no caption.", source.Image);
        var full = DatasetPaths.Resolve(source.Image, source.BaseFolder)
            ?? throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ImageNotFound",
                $"{source.Origin}: image '{source.Image}' not found (looked under '{source.BaseFolder}').", source.Image);
        try
        {
            var (w, h, format) = ImageCheck.Identify(full);
            return new CaptionDatasetEntry(full, caption, w, h, format);
        }
        catch (MedGemmaException e)
        {
            throw new MedGemmaException(e.Kind, e.ErrorId, $"{source.Origin}: {e.Message}", source.Image, e);
        }
    }

    /// <summary>Marks each entry train or validation: a seeded shuffle picks round(n × fraction) validation entries
    /// (at least one when the fraction is positive and n ≥ 2, never all); each split keeps input order.</summary>
    public static void Split(IReadOnlyList<CaptionDatasetEntry> entries, double validationFraction, int seed)
    {
        if (validationFraction is < 0 or >= 1 || double.IsNaN(validationFraction))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidValidationFraction",
                $"ValidationFraction must be in [0, 1), got {validationFraction}.", validationFraction);
        int n = entries.Count;
        int k = (int)Math.Round(n * validationFraction, MidpointRounding.AwayFromZero);
        if (validationFraction > 0 && n >= 2) k = Math.Max(k, 1);
        k = Math.Min(k, Math.Max(n - 1, 0));
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        var validation = new HashSet<int>(order.Take(k));
        for (int i = 0; i < n; i++) entries[i].Split = validation.Contains(i) ? "validation" : "train";
    }

    /// <summary>Writes train.json and val.json into <paramref name="outputFolder"/>, each atomically, and sets every entry's manifest path.</summary>
    public static (string Train, string Validation) Write(string outputFolder, IReadOnlyList<CaptionDatasetEntry> entries)
    {
        var folder = Path.GetFullPath(outputFolder);
        foreach (var e in entries) e.Image = DatasetPaths.RelativeForManifest(e.FullPath, folder);
        var train = Path.Combine(folder, TrainFileName);
        var val = Path.Combine(folder, ValidationFileName);
        AtomicFile.WriteAllText(train, Serialize(entries.Where(e => e.Split != "validation")));
        AtomicFile.WriteAllText(val, Serialize(entries.Where(e => e.Split == "validation")));
        return (train, val);
    }

    /// <summary>Reads a manifest (or any caption file CaptionSources understands) into validated entries; bad entries throw.</summary>
    public static IReadOnlyList<CaptionDatasetEntry> Read(string manifestPath)
    {
        var sources = CaptionSources.FromCaptionFile(manifestPath, null);
        var folder = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var list = new List<CaptionDatasetEntry>(sources.Count);
        foreach (var s in sources)
        {
            var e = Validate(s);
            e.Image = DatasetPaths.RelativeForManifest(e.FullPath, folder);
            list.Add(e);
        }
        return list;
    }

    static string Serialize(IEnumerable<CaptionDatasetEntry> entries)
        => JsonSerializer.Serialize(entries.Select(e => new ManifestRecord(e.Image, e.Caption)).ToList(), WriteOptions) + "\n";

    sealed record ManifestRecord(
        [property: System.Text.Json.Serialization.JsonPropertyName("image")] string Image,
        [property: System.Text.Json.Serialization.JsonPropertyName("caption")] string Caption);
}
