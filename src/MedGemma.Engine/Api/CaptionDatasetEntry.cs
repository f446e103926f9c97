namespace MedGemma.Engine.Api;

/// <summary>One raw (image, caption) pair before validation, as read from a CSV/JSON/.txt or a pipeline object.</summary>
/// <param name="Image">The image path as the source wrote it (relative to <paramref name="BaseFolder"/>, or absolute).</param>
/// <param name="Caption">The caption; null when the source had none.</param>
/// <param name="BaseFolder">The folder relative names are resolved against.</param>
/// <param name="Origin">Where the pair came from, for messages ("captions.csv line 4").</param>
public sealed record CaptionSource(string Image, string? Caption, string BaseFolder, string Origin);

/// <summary>A validated dataset entry: the image exists and its header decodes.</summary>
public sealed class CaptionDatasetEntry
{
    public CaptionDatasetEntry(string fullPath, string caption, int width, int height, string format)
    {
        FullPath = fullPath;
        Caption = caption;
        Width = width;
        Height = height;
        Format = format;
    }

    /// <summary>The path as written in the manifest: relative to the manifest's folder, '/' separators.</summary>
    public string Image { get; internal set; } = "";
    public string Caption { get; }
    public string FullPath { get; }
    /// <summary>"train" or "validation" once the dataset is split.</summary>
    public string Split { get; internal set; } = "";
    public int Width { get; }
    public int Height { get; }
    public string Format { get; }
}

/// <summary>What New-CaptionDataset wrote.</summary>
public sealed class CaptionDatasetSummary
{
    public string TrainManifest { get; init; } = "";
    public string ValidationManifest { get; init; } = "";
    public int TrainCount { get; init; }
    public int ValidationCount { get; init; }
    public int Skipped { get; init; }
    public int Duplicates { get; init; }
}
