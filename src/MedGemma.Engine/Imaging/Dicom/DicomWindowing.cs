namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>A VOI window on modality values (after Rescale Slope/Intercept).</summary>
public readonly record struct DicomWindow(double Center, double Width)
{
    /// <summary>The window spanning [low, high].</summary>
    public static DicomWindow FromRange(double low, double high) => new((low + high) / 2, high - low);
}

/// <summary>VOI LUT functions of PS3.3 C.11.2.1.2 and the MedGemma CT recipe, mapping to 0..255.</summary>
public static class DicomWindowing
{
    /// <summary>MedGemma 1.5's CT input: three Hounsfield windows placed in R, G and B.</summary>
    public static IReadOnlyList<(double Low, double High)> MedGemmaCtWindows { get; } =
        [(-1024, 1024), (-135, 215), (0, 80)];

    /// <summary>VOI LUT Function LINEAR (the default): width is at least 1.</summary>
    public static byte Linear(double x, DicomWindow w)
    {
        double c = w.Center, width = Math.Max(w.Width, 1);
        if (x <= c - 0.5 - (width - 1) / 2) return 0;
        if (x > c - 0.5 + (width - 1) / 2) return 255;
        return ToByte(((x - (c - 0.5)) / (width - 1) + 0.5) * 255);
    }

    /// <summary>VOI LUT Function LINEAR_EXACT (also used for the min-max fallback).</summary>
    public static byte LinearExact(double x, DicomWindow w)
    {
        if (w.Width <= 0) return x > w.Center ? (byte)255 : (byte)0;
        if (x <= w.Center - w.Width / 2) return 0;
        if (x > w.Center + w.Width / 2) return 255;
        return ToByte(((x - w.Center) / w.Width + 0.5) * 255);
    }

    /// <summary>VOI LUT Function SIGMOID.</summary>
    public static byte Sigmoid(double x, DicomWindow w) =>
        ToByte(255 / (1 + Math.Exp(-4 * (x - w.Center) / Math.Max(w.Width, 1e-9))));

    /// <summary>One channel of the MedGemma CT recipe as Google's CT notebook computes it: clip to [low, high],
    /// then in float32 subtract low, divide by (high - low), multiply by 255, and round half to even
    /// (<c>np.round(...).astype(np.uint8)</c>).</summary>
    public static byte HounsfieldClip(double hu, double low, double high)
    {
        float v = (float)Math.Clamp(hu, low, high);
        v -= (float)low;
        v /= (float)(high - low);
        v *= 255f;
        return (byte)Math.Clamp(Math.Round(v, MidpointRounding.ToEven), 0, 255);
    }

    static byte ToByte(double y) => (byte)Math.Clamp((int)Math.Round(y, MidpointRounding.AwayFromZero), 0, 255);
}
