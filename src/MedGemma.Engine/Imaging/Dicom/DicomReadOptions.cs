namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>Limits and choices for <see cref="DicomReader"/>.</summary>
public sealed record DicomReadOptions
{
    /// <summary>Files (or inflated deflate streams) larger than this are refused before allocation.</summary>
    public long MaxBytes { get; init; } = 1L << 30;
    /// <summary>Sequences nested deeper than this are treated as malformed.</summary>
    public int MaxSequenceDepth { get; init; } = 32;
    /// <summary>A frame with more samples than this (rows x columns x samples per pixel) is refused.</summary>
    public long MaxFrameSamples { get; init; } = 1L << 28;
    /// <summary>Opt-in: copy patient identifiers (name, ID, birth date...) into <see cref="DicomImage.Metadata"/>.
    /// Off by default so that logs, manifests and outputs never carry them by accident.</summary>
    public bool IncludePatientIdentifiers { get; init; }

    public static DicomReadOptions Default { get; } = new();
}
