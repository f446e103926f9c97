using System.Buffers.Binary;
using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>
/// Debian's dcmtk as the test oracle: decompresses a file to explicit VR little endian
/// (dcmdjpeg, dcmdrle, dcmconv) and dumps its raw pixel data (dcmdump +W), or renders colour
/// frames to PPM (dcm2pnm). Installed with apt on first use when missing (CI runs as root).
/// </summary>
public static class Dcmtk
{
    static readonly Lazy<bool> Installed = new(() =>
    {
        if (Tool.OnPath("dcmdjpeg") && Tool.OnPath("dcm2pnm")) return true;
        if (!Tool.TryRun("apt-get", ["install", "-y", "-qq", "dcmtk"], null, out _))
        {
            Tool.Run("apt-get", ["update", "-qq"]);
            Tool.Run("apt-get", ["install", "-y", "-qq", "dcmtk"]);
        }
        return Tool.OnPath("dcmdjpeg") ? true : throw new InvalidOperationException("dcmtk was installed but dcmdjpeg is not on PATH.");
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    public static void Ensure() => _ = Installed.Value;

    /// <summary>The oracle's view of a file: its decompressed pixel attributes and raw little-endian pixel bytes.</summary>
    public sealed record Decoded(DicomImage Header, byte[] Raw);

    public static Decoded Decompress(string input, DicomPixelEncoding encoding)
    {
        Ensure();
        var work = Directory.CreateTempSubdirectory("medgemma-dcmtk-");
        try
        {
            var native = Path.Combine(work.FullName, "native.dcm");
            switch (encoding)
            {
                case DicomPixelEncoding.Rle: Tool.Run("dcmdrle", ["+te", input, native]); break;
                case DicomPixelEncoding.JpegDct or DicomPixelEncoding.JpegLossless: Tool.Run("dcmdjpeg", ["+te", "+px", input, native]); break;
                default: Tool.Run("dcmconv", ["+te", input, native]); break;
            }
            var rawDir = Path.Combine(work.FullName, "raw");
            Directory.CreateDirectory(rawDir);
            Tool.Run("dcmdump", ["+W", rawDir, native]);
            var raw = Directory.GetFiles(rawDir, "*.raw").Single(f => f.EndsWith(".0.raw", StringComparison.Ordinal) || Directory.GetFiles(rawDir, "*.raw").Length == 1);
            return new Decoded(DicomReader.Read(native), File.ReadAllBytes(raw));
        }
        finally { work.Delete(true); }
    }

    /// <summary>Stored values of frame <paramref name="frame"/> from the oracle's raw pixel bytes, masked and sign-extended like DICOM says.</summary>
    public static int[] StoredValues(Decoded d, int frame)
    {
        var h = d.Header;
        int spp = h.SamplesPerPixel, bytes = h.BitsAllocated / 8;
        int count = h.Rows * h.Columns * spp;
        int offset = frame * count * bytes;
        var v = new int[count];
        int shift = h.HighBit + 1 - h.BitsStored, mask = (1 << h.BitsStored) - 1, sign = 1 << (h.BitsStored - 1);
        for (int i = 0; i < count; i++)
        {
            int raw = bytes == 1 ? d.Raw[offset + i] : BinaryPrimitives.ReadUInt16LittleEndian(d.Raw.AsSpan(offset + 2 * i));
            raw = (raw >> shift) & mask;
            v[i] = h.IsSigned && (raw & sign) != 0 ? raw - (1 << h.BitsStored) : raw;
        }
        if (spp == 3 && h.PlanarConfiguration == 1)
        {
            var inter = new int[count];
            int pixels = count / 3;
            for (int p = 0; p < pixels; p++)
                for (int c = 0; c < 3; c++) inter[3 * p + c] = v[c * pixels + p];
            v = inter;
        }
        return v;
    }

    /// <summary>Native YBR_FULL_422 as stored: two bytes per pixel (Y1 Y2 Cb Cr per pixel pair).</summary>
    public static int[] StoredValues422(Decoded d, int frame)
    {
        int count = d.Header.Rows * d.Header.Columns * 2;
        return d.Raw.AsSpan(frame * count, count).ToArray().Select(b => (int)b).ToArray();
    }

    /// <summary>dcm2pnm's 8-bit PPM/PGM rendering of one frame (0-based), as interleaved bytes.</summary>
    public static (int Width, int Height, int Channels, byte[] Pixels) Pnm(string input, int frame, params string[] extra)
    {
        Ensure();
        var work = Directory.CreateTempSubdirectory("medgemma-dcm2pnm-");
        try
        {
            var output = Path.Combine(work.FullName, "out.pnm");
            Tool.Run("dcm2pnm", ["+op", "+F", (frame + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra, input, output]);
            return ParsePnm(File.ReadAllBytes(output));
        }
        finally { work.Delete(true); }
    }

    static (int, int, int, byte[]) ParsePnm(byte[] b)
    {
        int pos = 0;
        string Token()
        {
            while (char.IsWhiteSpace((char)b[pos]) || b[pos] == '#')
            {
                if (b[pos] == '#') while (b[pos] != '\n') pos++;
                pos++;
            }
            int s = pos;
            while (!char.IsWhiteSpace((char)b[pos])) pos++;
            return System.Text.Encoding.ASCII.GetString(b, s, pos - s);
        }
        var magic = Token();
        int w = int.Parse(Token()), h = int.Parse(Token()), max = int.Parse(Token());
        pos++;
        if (max != 255) throw new InvalidOperationException($"dcm2pnm wrote maxval {max}; 8-bit output expected.");
        int ch = magic == "P6" ? 3 : 1;
        return (w, h, ch, b.AsSpan(pos, w * h * ch).ToArray());
    }
}
