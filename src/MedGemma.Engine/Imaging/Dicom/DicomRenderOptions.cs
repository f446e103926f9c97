namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>How a frame becomes an 8-bit RGB image.</summary>
public sealed record DicomRenderOptions
{
    /// <summary>A window chosen by the caller ([center - width/2, center + width/2] maps linearly to 0..255, LINEAR_EXACT);
    /// overrides the file's window and the CT recipe.</summary>
    public DicomWindow? Window { get; init; }
    /// <summary>Use the file's first Window Center/Width when present (else min-max of the frame).</summary>
    public bool UseFileWindow { get; init; } = true;
    /// <summary>For CT, MedGemma 1.5's recipe: Hounsfield windows -1024..1024, -135..215 and 0..80 as R, G, B.</summary>
    public bool CtHounsfieldRgb { get; init; }

    public static DicomRenderOptions Default { get; } = new();
}
