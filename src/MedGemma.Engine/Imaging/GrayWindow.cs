namespace MedGemma.Engine.Imaging;

/// <summary>
/// Maps more-than-8-bit grayscale to 8 bits. Pillow's <c>convert("RGB")</c> of a 16-bit ("I;16") image clips every
/// value above 255 to white, which makes typical 16-bit medical PNG/TIFF all white; we map linearly through the
/// image's own min–max range instead (or through the caller's window), so the model sees the anatomy.
/// </summary>
internal static class GrayWindow
{
    /// <summary>Expands 16-bit gray samples to interleaved RGB bytes; returns a description of the window used.</summary>
    public static string ToRgb(ReadOnlySpan<ushort> gray, Span<byte> rgb, ImageLoadOptions options)
    {
        double low, high;
        string used;
        if (options.WindowCenter is { } c && options.WindowWidth is { } w)
        {
            low = c - w / 2;
            high = c + w / 2;
            used = $"center {c}, width {w}";
        }
        else
        {
            ushort min = ushort.MaxValue, max = 0;
            foreach (var v in gray)
            {
                if (v < min) min = v;
                if (v > max) max = v;
            }
            low = min;
            high = max;
            used = $"min-max {min}..{max}";
        }
        var lut = new byte[65536];
        for (var v = 0; v < lut.Length; v++)
            lut[v] = high > low
                ? (byte)Math.Clamp(Math.Round((v - low) * 255.0 / (high - low), MidpointRounding.AwayFromZero), 0, 255)
                : (byte)((v + 128) / 257); // a constant image keeps its plain 16→8-bit level
        for (var i = 0; i < gray.Length; i++)
        {
            var b = lut[gray[i]];
            rgb[3 * i] = b;
            rgb[3 * i + 1] = b;
            rgb[3 * i + 2] = b;
        }
        return used;
    }
}
