using System.Text.Json;

namespace MedGemma.Engine.Api;

/// <summary>Reads (image, caption) pairs from the forms people keep them in: CSV, a JSON manifest, or a .txt beside each image.</summary>
public static class CaptionSources
{
    /// <summary>Image file extensions a folder scan picks up (DICOM included).</summary>
    public static readonly IReadOnlySet<string> ImageExtensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".dcm", ".pbm", ".tga" };

    static readonly string[] ImageColumns = { "image", "image_path", "file", "file_name", "filename", "path" };
    static readonly string[] CaptionColumns = { "caption", "text", "report", "findings", "description" };

    /// <summary>A CSV (columns image,caption) or JSON manifest (array of {image, caption}, or {"entries": [...]}).
    /// Relative names resolve against <paramref name="imageFolder"/>, else the caption file's folder.</summary>
    public static IReadOnlyList<CaptionSource> FromCaptionFile(string captionFile, string? imageFolder)
    {
        var full = Path.GetFullPath(captionFile);
        if (!File.Exists(full)) throw new MedGemmaException(MedGemmaErrorKind.NotFound, "CaptionFileNotFound", $"Caption file '{captionFile}' does not exist.", captionFile);
        var baseFolder = imageFolder != null ? Path.GetFullPath(imageFolder) : Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        var text = File.ReadAllText(full);
        bool json = Path.GetExtension(full).Equals(".json", StringComparison.OrdinalIgnoreCase)
                    || text.TrimStart('\uFEFF', ' ', '\t', '\r', '\n').StartsWith('[') || text.TrimStart('\uFEFF', ' ', '\t', '\r', '\n').StartsWith('{');
        return json ? FromJson(text, name, baseFolder, captionFile) : FromCsv(text, name, baseFolder, captionFile);
    }

    /// <summary>Every image in the folder with the caption from the same-named .txt (x.png → x.txt); Caption is null when there is none.</summary>
    public static IReadOnlyList<CaptionSource> FromSidecarText(string imageFolder)
    {
        var folder = Path.GetFullPath(imageFolder);
        if (!Directory.Exists(folder)) throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ImageFolderNotFound", $"Image folder '{imageFolder}' does not exist.", imageFolder);
        return Directory.EnumerateFiles(folder)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f)))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f =>
            {
                var txt = Path.ChangeExtension(f, ".txt");
                string? caption = File.Exists(txt) ? File.ReadAllText(txt).Trim() : null;
                return new CaptionSource(Path.GetFileName(f), caption, folder, Path.GetFileName(f));
            })
            .ToList();
    }

    static IReadOnlyList<CaptionSource> FromCsv(string text, string name, string baseFolder, string target)
    {
        var table = CsvTable.Parse(text, name);
        int img = table.Column(ImageColumns), cap = table.Column(CaptionColumns);
        if (img < 0 || cap < 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "MissingCsvColumns",
                $"{name}: expected a header with columns 'image,caption', found '{string.Join(",", table.Header)}'.", target);
        return table.Rows.Select(r => new CaptionSource(
            img < r.Fields.Length ? r.Fields[img] : "",
            cap < r.Fields.Length ? r.Fields[cap] : null,
            baseFolder, $"{name} line {r.Line}")).ToList();
    }

    static IReadOnlyList<CaptionSource> FromJson(string text, string name, string baseFolder, string target)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidJson", $"{name} is not valid JSON: {e.Message}", target, e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                foreach (var key in new[] { "entries", "data", "items", "images" })
                    if (TryGet(root, key, out var inner) && inner.ValueKind == JsonValueKind.Array) { root = inner; break; }
            }
            if (root.ValueKind != JsonValueKind.Array)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidManifest", $"{name}: expected an array of {{\"image\": ..., \"caption\": ...}} objects.", target);
            var list = new List<CaptionSource>();
            int i = 0;
            foreach (var item in root.EnumerateArray())
            {
                var origin = $"{name} entry {i++}";
                string image = "", caption = "";
                bool hasCaption = false;
                if (item.ValueKind == JsonValueKind.Object)
                {
                    image = FirstString(item, ImageColumns) ?? "";
                    var c = FirstString(item, CaptionColumns);
                    hasCaption = c != null;
                    caption = c ?? "";
                }
                list.Add(new CaptionSource(image, hasCaption ? caption : null, baseFolder, origin));
            }
            return list;
        }
    }

    static string? FirstString(JsonElement obj, string[] names)
    {
        foreach (var n in names)
            if (TryGet(obj, n, out var v) && v.ValueKind == JsonValueKind.String) return v.GetString();
        return null;
    }

    static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        foreach (var p in obj.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) { value = p.Value; return true; }
        value = default;
        return false;
    }
}
