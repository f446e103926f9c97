using System.Text.Json;

namespace MedGemma.Engine.Training;

/// <summary>One training example: an image file and the caption the model should produce for it.</summary>
public sealed record CaptionSample(string ImagePath, string Caption, int Index);

/// <summary>
/// Reads train.json / val.json: a JSON array of {"image": path, "caption": text}. Relative image paths
/// resolve against the manifest's folder. Every problem is reported with the manifest and entry index,
/// and all missing images are listed at once so a user fixes them in one go.
/// </summary>
public static class CaptionManifest
{
    public static IReadOnlyList<CaptionSample> Read(string path, bool requireImages = true)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ManifestNotFound", $"Manifest not found: {full}", full);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(full), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadManifest", $"Manifest {full} is not valid JSON: {e.Message}", full, e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadManifest", $"Manifest {full} must be a JSON array of {{\"image\", \"caption\"}} objects.", full);
            var folder = Path.GetDirectoryName(full)!;
            var samples = new List<CaptionSample>();
            var missing = new List<string>();
            int i = 0;
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                var entry = $"{full}[{i}]";
                if (item.ValueKind != JsonValueKind.Object)
                    throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadManifestEntry", $"Manifest entry {entry} is not an object.", entry);
                var image = Text(item, "image", entry);
                var caption = Text(item, "caption", entry);
                var imagePath = Path.GetFullPath(Path.IsPathRooted(image) ? image : Path.Combine(folder, image));
                if (requireImages && !File.Exists(imagePath)) missing.Add($"{entry}: {imagePath}");
                samples.Add(new CaptionSample(imagePath, caption, i));
                i++;
            }
            if (missing.Count > 0)
                throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ManifestImageNotFound",
                    $"{missing.Count} image(s) listed in {full} do not exist:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", missing.Take(20))
                    + (missing.Count > 20 ? $"{Environment.NewLine}  … and {missing.Count - 20} more" : ""), missing[0]);
            if (samples.Count == 0)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "EmptyManifest", $"Manifest {full} has no entries.", full);
            return samples;
        }
    }

    static string Text(JsonElement item, string key, string entry)
    {
        if (!item.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadManifestEntry", $"Manifest entry {entry} needs a non-empty string \"{key}\".", entry);
        return v.GetString()!;
    }
}
