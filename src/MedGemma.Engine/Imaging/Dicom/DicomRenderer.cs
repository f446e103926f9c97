using System.Globalization;

namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>
/// Turns one DICOM frame into the 8-bit RGB image the model sees: modality LUT (Rescale
/// Slope/Intercept), VOI window (caller's, file's, else min-max), MONOCHROME1 inversion,
/// palette lookup and YCbCr conversion.
/// </summary>
public static class DicomRenderer
{
    /// <summary>Reads <paramref name="path"/> and renders frame <paramref name="frameIndex"/> (null: the middle frame).</summary>
    public static RgbImage ReadRgb(string path, int? frameIndex = null, DicomReadOptions? read = null, DicomRenderOptions? render = null) =>
        ToRgb(DicomReader.Read(path, read), frameIndex, render);

    public static RgbImage ToRgb(DicomImage image, int? frameIndex = null, DicomRenderOptions? options = null)
    {
        options ??= DicomRenderOptions.Default;
        int index = frameIndex ?? image.DefaultFrameIndex;
        var frame = image.DecodeFrame(index);
        var meta = new Dictionary<string, string>(image.Metadata)
        {
            ["Dicom.Frame"] = index.ToString(CultureInfo.InvariantCulture),
        };
        byte[] rgb = frame.Photometric switch
        {
            "MONOCHROME1" or "MONOCHROME2" when frame.SamplesPerPixel == 1 => Monochrome(image, frame, options, meta),
            "PALETTE COLOR" when frame.SamplesPerPixel == 1 => Palette(image, frame),
            "RGB" when frame.SamplesPerPixel == 3 => Rgb(image, frame),
            "YBR_FULL" or "YBR_FULL_422" when frame.SamplesPerPixel == 3 => YbrFull(image, frame),
            _ => throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedPhotometric",
                $"{image.Source}: photometric interpretation \"{frame.Photometric}\" with {frame.SamplesPerPixel} sample(s) per pixel is not supported.", image.Source),
        };
        return new RgbImage(frame.Width, frame.Height, rgb, image.Source, meta);
    }

    static byte[] Monochrome(DicomImage image, DicomFrame frame, DicomRenderOptions options, Dictionary<string, string> meta)
    {
        var s = frame.Samples;
        double slope = image.RescaleSlope, intercept = image.RescaleIntercept;
        var rgb = new byte[s.Length * 3];
        if (options.Window == null && options.CtHounsfieldRgb && image.Modality?.ToUpperInvariant() == "CT")
        {
            var w = DicomWindowing.MedGemmaCtWindows;
            for (int i = 0; i < s.Length; i++)
            {
                double hu = s[i] * slope + intercept;
                for (int c = 0; c < 3; c++) rgb[3 * i + c] = DicomWindowing.HounsfieldClip(hu, w[c].Low, w[c].High);
            }
            meta["Dicom.Window"] = "MedGemma CT (R -1024..1024, G -135..215, B 0..80 HU)";
            return rgb;
        }

        Func<double, DicomWindow, byte> voi = DicomWindowing.Linear;
        DicomWindow window;
        string how;
        var centers = image.Dataset.GetNumbers(DicomTag.WindowCenter);
        var widths = image.Dataset.GetNumbers(DicomTag.WindowWidth);
        if (options.Window is { } given)
        {
            window = given; how = "caller";
            voi = DicomWindowing.LinearExact;
        }
        else if (options.UseFileWindow && centers.Length > 0 && widths.Length > 0 && widths[0] >= 1)
        {
            window = new DicomWindow(centers[0], widths[0]); how = "file";
            var function = image.Dataset.GetString(DicomTag.VoiLutFunction)?.ToUpperInvariant();
            if (function == "LINEAR_EXACT") voi = DicomWindowing.LinearExact;
            else if (function == "SIGMOID") voi = DicomWindowing.Sigmoid;
        }
        else
        {
            int min = int.MaxValue, max = int.MinValue;
            foreach (var v in s) { if (v < min) min = v; if (v > max) max = v; }
            double a = min * slope + intercept, b = max * slope + intercept;
            window = DicomWindow.FromRange(Math.Min(a, b), Math.Max(a, b));
            voi = DicomWindowing.LinearExact;
            how = "min-max";
        }
        meta["Dicom.Window"] = string.Create(CultureInfo.InvariantCulture, $"{how}: center {window.Center:G6}, width {window.Width:G6}");
        bool invert = frame.Photometric == "MONOCHROME1";
        for (int i = 0; i < s.Length; i++)
        {
            byte y = voi(s[i] * slope + intercept, window);
            if (invert) y = (byte)(255 - y);
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = y;
        }
        return rgb;
    }

    static byte[] Palette(DicomImage image, DicomFrame frame)
    {
        var r = Lut(image, DicomTag.RedPaletteDescriptor, DicomTag.RedPaletteData);
        var g = Lut(image, DicomTag.GreenPaletteDescriptor, DicomTag.GreenPaletteData);
        var b = Lut(image, DicomTag.BluePaletteDescriptor, DicomTag.BluePaletteData);
        var s = frame.Samples;
        var rgb = new byte[s.Length * 3];
        for (int i = 0; i < s.Length; i++)
        {
            rgb[3 * i] = r.Map(s[i]); rgb[3 * i + 1] = g.Map(s[i]); rgb[3 * i + 2] = b.Map(s[i]);
        }
        return rgb;
    }

    sealed record PaletteLut(int First, byte[] Entries)
    {
        public byte Map(int v) => Entries[Math.Clamp(v - First, 0, Entries.Length - 1)];
    }

    static PaletteLut Lut(DicomImage image, DicomTag descriptorTag, DicomTag dataTag)
    {
        var ds = image.Dataset;
        if (ds.Contains(DicomTag.SegmentedRedPaletteData))
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedPalette", $"{image.Source}: segmented palette colour lookup tables are not supported.", image.Source);
        if (ds.GetUInt16(descriptorTag, 2) is not { } bits || ds.GetUInt16(descriptorTag, 0) is not { } n0 || ds.GetUInt16(descriptorTag, 1) is not { } first0)
            throw DicomReader.Invalid(image.Source, "BadPalette", $"is PALETTE COLOR without a valid descriptor {descriptorTag}");
        int entries = n0 == 0 ? 65536 : n0;
        int first = image.IsSigned && first0 > 32767 ? first0 - 65536 : first0;
        var data = ds.GetBytes(dataTag);
        var lut = new byte[entries];
        bool packed8 = bits <= 8 && data.Length == entries; // 8-bit entries stored one per byte
        if (!packed8 && data.Length < 2 * entries)
            throw DicomReader.Invalid(image.Source, "BadPalette", $"has {data.Length} bytes of palette data {dataTag} for {entries} entries");
        for (int i = 0; i < entries; i++)
        {
            int v = packed8 ? data[i] : ds.BigEndian ? data[2 * i] << 8 | data[2 * i + 1] : data[2 * i] | data[2 * i + 1] << 8;
            lut[i] = (byte)(bits > 8 ? v >> (bits - 8) : v & 0xFF);
        }
        return new PaletteLut(first, lut);
    }

    static byte[] Rgb(DicomImage image, DicomFrame frame)
    {
        int shift = Math.Max(0, image.BitsStored - 8);
        var s = frame.Samples;
        var rgb = new byte[s.Length];
        for (int i = 0; i < s.Length; i++) rgb[i] = (byte)Math.Clamp(s[i] >> shift, 0, 255);
        return rgb;
    }

    /// <summary>Full-range YCbCr (JPEG/JFIF equations, PS3.3 C.7.6.3.1.2) to RGB.</summary>
    static byte[] YbrFull(DicomImage image, DicomFrame frame)
    {
        if (image.BitsStored > 8)
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedPhotometric", $"{image.Source}: YBR_FULL above 8 bits is not supported.", image.Source);
        var s = frame.Samples;
        var rgb = new byte[s.Length];
        for (int i = 0; i < s.Length; i += 3)
        {
            double y = s[i], cb = s[i + 1] - 128, cr = s[i + 2] - 128;
            rgb[i] = Byte(y + 1.402 * cr);
            rgb[i + 1] = Byte(y - 0.344136 * cb - 0.714136 * cr);
            rgb[i + 2] = Byte(y + 1.772 * cb);
        }
        return rgb;
    }

    static byte Byte(double v) => (byte)Math.Clamp((int)Math.Round(v, MidpointRounding.AwayFromZero), 0, 255);
}
