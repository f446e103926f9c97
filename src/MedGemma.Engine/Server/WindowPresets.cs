using MedGemma.Engine.Imaging;
using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Server;

/// <summary>A display window in Hounsfield units (or the image's rescaled units).</summary>
public readonly record struct DisplayWindow(double Center, double Width)
{
    public double Lower => Center - Width / 2;
    public double Upper => Center + Width / 2;
    public static DisplayWindow FromRange(double lower, double upper) => new((lower + upper) / 2, upper - lower);
}

/// <summary>
/// A named way to turn DICOM values into RGB. One window → gray; three windows → one per channel (R, G, B),
/// which <see cref="UploadDecoder"/> renders with the engine's MedGemma CT recipe (CT only; other modalities
/// keep their own window).
/// </summary>
public sealed record WindowPreset(string Id, string Label, IReadOnlyList<DisplayWindow> Windows)
{
    /// <summary>
    /// <paramref name="options"/> with this preset's window: one window → WindowCenter/WindowWidth, three →
    /// the MedGemma CT recipe (<see cref="ImageLoadOptions.CtHounsfieldRgb"/>), none → unchanged.
    /// </summary>
    public ImageLoadOptions ApplyTo(ImageLoadOptions options) => Windows.Count switch
    {
        0 => options,
        1 => options with { WindowCenter = Windows[0].Center, WindowWidth = Windows[0].Width, CtHounsfieldRgb = false },
        _ => options with { WindowCenter = null, WindowWidth = null, CtHounsfieldRgb = true },
    };
}

/// <summary>The presets the page offers for DICOM (CT) images. Ids are what the API's "window" field takes.</summary>
public static class WindowPresets
{
    /// <summary>The file's own window (WindowCenter/WindowWidth, else its value range).</summary>
    public const string FileDefault = "default";

    public static IReadOnlyList<WindowPreset> All { get; } =
    [
        new(FileDefault, "From file", []),
        // Common radiology presets (center/width in HU).
        new("lung", "CT lung (L -600 / W 1500)", [new(-600, 1500)]),
        new("mediastinum", "CT mediastinum / soft tissue (L 50 / W 350)", [new(50, 350)]),
        new("bone", "CT bone (L 400 / W 1800)", [new(400, 1800)]),
        new("brain", "CT brain (L 40 / W 80)", [new(40, 80)]),
        // MedGemma's CT input: three windows stacked as R, G, B — wide, soft tissue, brain.
        new("medgemma-rgb", "MedGemma RGB (3 windows)",
            [.. DicomWindowing.MedGemmaCtWindows.Select(w => DisplayWindow.FromRange(w.Low, w.High))]),
    ];

    /// <summary>The preset with this id (case-insensitive); null or empty → null (file default).</summary>
    public static WindowPreset? Find(string? id)
    {
        if (string.IsNullOrWhiteSpace(id) || string.Equals(id, FileDefault, StringComparison.OrdinalIgnoreCase)) return null;
        return All.FirstOrDefault(p => string.Equals(p.Id, id, StringComparison.OrdinalIgnoreCase))
            ?? throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "UnknownWindowPreset",
                $"Unknown window preset '{id}'. Known: {string.Join(", ", All.Select(p => p.Id))}.", id);
    }
}
