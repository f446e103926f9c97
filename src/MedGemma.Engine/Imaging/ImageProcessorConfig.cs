using System.Globalization;
using System.Text.Json;

namespace MedGemma.Engine.Imaging;

/// <summary>Which Hugging Face image-processor implementation to reproduce bit for bit.</summary>
public enum ImageProcessorBackend
{
    /// <summary>
    /// The "fast" processor (transformers 5's default, and what the reference fixtures were made with): torchvision's
    /// uint8 antialiased bilinear resize (int16 weights) and rescale fused into normalisation, (x − mean/f)/(std/f).
    /// </summary>
    Torchvision,
    /// <summary>The PIL-based processor (<c>use_fast=False</c>): Pillow's resize, then x·f, then (x − mean)/std.</summary>
    Pillow,
}

/// <summary>
/// The image half of a Hugging Face processor config (Gemma3ImageProcessor): output size, resampling filter,
/// rescale factor and normalisation. Missing fields take Gemma3ImageProcessor's defaults.
/// </summary>
public sealed record ImageProcessorConfig
{
    public int Height { get; init; } = 224;
    public int Width { get; init; } = 224;
    public bool DoResize { get; init; } = true;
    public PillowFilter Resample { get; init; } = PillowFilter.Bilinear;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255;
    public bool DoNormalize { get; init; } = true;
    public IReadOnlyList<double> ImageMean { get; init; } = [0.5, 0.5, 0.5];
    public IReadOnlyList<double> ImageStd { get; init; } = [0.5, 0.5, 0.5];
    /// <summary>
    /// Which implementation's rounding to reproduce (not read from the file: transformers 5 uses the fast processor
    /// whatever the file's image_processor_type says). Torchvision arithmetic applies to bilinear resizing; other
    /// filters always use Pillow's.
    /// </summary>
    public ImageProcessorBackend Backend { get; init; } = ImageProcessorBackend.Torchvision;
    /// <summary>Image tokens per image in the prompt (<c>image_seq_length</c>, 256 for MedGemma); null when the file does not say.</summary>
    public int? ImageSeqLength { get; init; }
    /// <summary>The file this was read from (null when built in code).</summary>
    public string? SourcePath { get; init; }

    static readonly string[] FileNames = ["preprocessor_config.json", "processor_config.json"];

    /// <summary>
    /// Reads <c>preprocessor_config.json</c> (flat) or, failing that, <c>processor_config.json</c> (flat, or with the
    /// fields under <c>"image_processor"</c>, as transformers 5 writes it) from <paramref name="modelFolderOrFile"/>;
    /// a path to one of the files is accepted too.
    /// </summary>
    /// <exception cref="MedGemmaException">NotFound when neither file exists; InvalidData for bad JSON or values;
    /// NotSupported for pan-and-scan or the NEAREST filter.</exception>
    public static ImageProcessorConfig Load(string modelFolderOrFile)
    {
        ArgumentNullException.ThrowIfNull(modelFolderOrFile);
        string? path = File.Exists(modelFolderOrFile) ? modelFolderOrFile
            : FileNames.Select(n => Path.Combine(modelFolderOrFile, n)).FirstOrDefault(File.Exists);
        if (path == null)
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ProcessorConfigNotFound",
                $"No preprocessor_config.json or processor_config.json in '{modelFolderOrFile}'.", modelFolderOrFile);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw Bad(path, "it is not valid JSON: " + e.Message, e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(path, "the top level is not a JSON object.");
            if (root.TryGetProperty("image_processor", out var nested) && nested.ValueKind == JsonValueKind.Object)
            {
                var seq = Int(root, "image_seq_length", path);
                return Parse(nested, path) with { ImageSeqLength = seq ?? Int(nested, "image_seq_length", path) };
            }
            return Parse(root, path);
        }
    }

    static ImageProcessorConfig Parse(JsonElement o, string path)
    {
        var c = new ImageProcessorConfig { SourcePath = path, ImageSeqLength = Int(o, "image_seq_length", path) };
        if (Bool(o, "do_pan_and_scan", path) == true)
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "PanAndScanNotSupported",
                $"'{path}' enables do_pan_and_scan, which is not supported.", path);
        if (o.TryGetProperty("size", out var size) && size.ValueKind != JsonValueKind.Null)
        {
            if (size.ValueKind == JsonValueKind.Number) c = c with { Height = Positive(size, "size", path), Width = Positive(size, "size", path) };
            else if (size.ValueKind == JsonValueKind.Object && size.TryGetProperty("height", out var h) && size.TryGetProperty("width", out var w))
                c = c with { Height = Positive(h, "size.height", path), Width = Positive(w, "size.width", path) };
            else throw Bad(path, "\"size\" must be a number or {\"height\", \"width\"} (aspect-preserving sizes are not used by Gemma 3).");
        }
        if (Int(o, "resample", path) is { } r)
        {
            if (r is < 0 or > 5) throw Bad(path, $"\"resample\" {r} is not a PIL filter (0-5).");
            if (r == 0) throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedResample", $"'{path}' asks for NEAREST resampling, which is not supported.", path);
            c = c with { Resample = (PillowFilter)r };
        }
        c = c with
        {
            DoResize = Bool(o, "do_resize", path) ?? c.DoResize,
            DoRescale = Bool(o, "do_rescale", path) ?? c.DoRescale,
            RescaleFactor = Num(o, "rescale_factor", path) ?? c.RescaleFactor,
            DoNormalize = Bool(o, "do_normalize", path) ?? c.DoNormalize,
            ImageMean = Triple(o, "image_mean", path) ?? c.ImageMean,
            ImageStd = Triple(o, "image_std", path) ?? c.ImageStd,
        };
        if (c.ImageStd.Any(s => s == 0)) throw Bad(path, "\"image_std\" contains 0.");
        return c;
    }

    static MedGemmaException Bad(string path, string why, Exception? inner = null) =>
        new(MedGemmaErrorKind.InvalidData, "InvalidProcessorConfig", $"Processor config '{path}' is invalid: {why}", path, inner);

    static bool? Bool(JsonElement o, string name, string path) =>
        !o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw Bad(path, $"\"{name}\" must be true or false.");

    static double? Num(JsonElement o, string name, string path) =>
        !o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
        : throw Bad(path, $"\"{name}\" must be a number.");

    static int? Int(JsonElement o, string name, string path) =>
        !o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i
        : throw Bad(path, $"\"{name}\" must be an integer.");

    static int Positive(JsonElement v, string name, string path) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i > 0 && i <= 65536 ? i
        : throw Bad(path, $"\"{name}\" must be a positive integer, got {v.GetRawText()}.");

    /// <summary>A per-channel list of 3 (or 1, broadcast, as transformers does for a scalar).</summary>
    static IReadOnlyList<double>? Triple(JsonElement o, string name, string path)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number) return [v.GetDouble(), v.GetDouble(), v.GetDouble()];
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 3 && v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
            return v.EnumerateArray().Select(e => e.GetDouble()).ToArray();
        throw Bad(path, $"\"{name}\" must be a number or a list of 3 numbers, got {v.GetRawText()}.");
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Width}x{Height} {Resample} rescale={(DoRescale ? RescaleFactor : 1)} mean=[{string.Join(",", ImageMean)}] std=[{string.Join(",", ImageStd)}]");
}
