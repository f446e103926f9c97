using System.Buffers.Binary;
using System.Text;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>Writes small Part-10 files by hand (explicit VR little endian unless told otherwise), including broken ones.</summary>
public sealed class DicomBuilder
{
    readonly MemoryStream _body = new();
    readonly string _transferSyntax;

    readonly bool _bigEndian;

    /// <param name="transferSyntax">Written into the meta group.</param>
    /// <param name="bigEndian">Encode the data set as explicit VR big endian (use with 1.2.840.10008.1.2.2).</param>
    public DicomBuilder(string transferSyntax = "1.2.840.10008.1.2.1", bool bigEndian = false)
    {
        _transferSyntax = transferSyntax;
        _bigEndian = bigEndian;
    }

    static readonly HashSet<string> LongVrs = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"];

    /// <summary>An element with an explicit VR; the value is padded to even length.</summary>
    public DicomBuilder Add(ushort group, ushort element, string vr, byte[] value)
    {
        if (value.Length % 2 == 1) value = [.. value, vr is "UI" or "OB" ? (byte)0 : (byte)' '];
        if (_bigEndian && vr is "US" or "OW" or "SS")
        {
            value = (byte[])value.Clone();
            for (int i = 0; i + 1 < value.Length; i += 2) (value[i], value[i + 1]) = (value[i + 1], value[i]);
        }
        Header(_body, group, element, vr, (uint)value.Length, _bigEndian);
        _body.Write(value);
        return this;
    }

    public DicomBuilder Text(ushort group, ushort element, string vr, string value) => Add(group, element, vr, Encoding.ASCII.GetBytes(value));

    public DicomBuilder US(ushort group, ushort element, params ushort[] values)
    {
        var b = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2 * i), values[i]);
        return Add(group, element, "US", b);
    }

    /// <summary>Raw bytes appended as they are (for lying lengths, broken items...).</summary>
    public DicomBuilder Raw(byte[] bytes) { _body.Write(bytes); return this; }

    public static byte[] ElementHeader(ushort group, ushort element, string vr, uint length)
    {
        var ms = new MemoryStream();
        Header(ms, group, element, vr, length);
        return ms.ToArray();
    }

    /// <summary>An item or delimiter tag (FFFE,xxxx) with a 4-byte length.</summary>
    public static byte[] ItemTag(ushort element, uint length)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt16LittleEndian(b, 0xFFFE);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), element);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), length);
        return b;
    }

    static void Header(Stream s, ushort group, ushort element, string vr, uint length, bool bigEndian = false)
    {
        Span<byte> h = stackalloc byte[12];
        W16(h, group, bigEndian);
        W16(h[2..], element, bigEndian);
        h[4] = (byte)vr[0]; h[5] = (byte)vr[1];
        if (LongVrs.Contains(vr))
        {
            h[6] = h[7] = 0;
            if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(h[8..], length); else BinaryPrimitives.WriteUInt32LittleEndian(h[8..], length);
            s.Write(h);
        }
        else
        {
            W16(h[6..], (ushort)length, bigEndian);
            s.Write(h[..8]);
        }
    }

    static void W16(Span<byte> b, ushort v, bool bigEndian)
    {
        if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v);
    }

    /// <summary>A monochrome image: the pixel module with the given values and 16-bit (or 8-bit) native pixel data.</summary>
    public static DicomBuilder Monochrome(int rows, int cols, int[] stored, int bits = 16, bool signed = false, string photometric = "MONOCHROME2", string modality = "CT", bool bigEndian = false)
    {
        var b = new DicomBuilder(bigEndian ? "1.2.840.10008.1.2.2" : "1.2.840.10008.1.2.1", bigEndian)
            .Text(0x0008, 0x0060, "CS", modality)
            .US(0x0028, 0x0002, 1)
            .Text(0x0028, 0x0004, "CS", photometric)
            .US(0x0028, 0x0010, (ushort)rows)
            .US(0x0028, 0x0011, (ushort)cols)
            .US(0x0028, 0x0100, (ushort)bits)
            .US(0x0028, 0x0101, (ushort)bits)
            .US(0x0028, 0x0102, (ushort)(bits - 1))
            .US(0x0028, 0x0103, (ushort)(signed ? 1 : 0));
        var pixels = bits == 8 ? stored.Select(v => (byte)v).ToArray() : PixelData16(stored);
        return b.Add(0x7FE0, 0x0010, bits == 8 ? "OB" : "OW", pixels);
    }

    public static byte[] PixelData16(int[] stored)
    {
        var p = new byte[stored.Length * 2];
        for (int i = 0; i < stored.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(2 * i), (ushort)stored[i]);
        return p;
    }

    public byte[] ToArray()
    {
        var file = new MemoryStream();
        file.Write(new byte[128]);
        file.Write("DICM"u8);
        var meta = new MemoryStream();
        var ts = Encoding.ASCII.GetBytes(_transferSyntax);
        if (ts.Length % 2 == 1) ts = [.. ts, 0];
        Header(meta, 0x0002, 0x0010, "UI", (uint)ts.Length);
        meta.Write(ts);
        Header(file, 0x0002, 0x0000, "UL", 4);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)meta.Length);
        file.Write(len);
        meta.Position = 0; meta.CopyTo(file);
        _body.Position = 0; _body.CopyTo(file);
        return file.ToArray();
    }
}
