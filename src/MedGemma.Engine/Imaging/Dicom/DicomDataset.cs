using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>One top-level element: where its value lies in the decoded file buffer.</summary>
public sealed class DicomElement
{
    public DicomTag Tag { get; }
    /// <summary>Two-letter VR from an explicit-VR stream; null when the stream was implicit VR.</summary>
    public string? Vr { get; }
    internal int Offset { get; }
    public int Length { get; }
    /// <summary>Fragments of encapsulated pixel data (first one is the basic offset table); null for native values.</summary>
    internal IReadOnlyList<(int Offset, int Length)>? Fragments { get; }

    internal DicomElement(DicomTag tag, string? vr, int offset, int length, IReadOnlyList<(int, int)>? fragments = null)
    {
        Tag = tag; Vr = vr; Offset = offset; Length = length; Fragments = fragments;
    }
}

/// <summary>
/// The top-level elements of a DICOM file (meta group and data set), read-only. Values are decoded
/// on request; sequences are checked for structure but their items are not exposed.
/// </summary>
public sealed class DicomDataset
{
    readonly byte[] _buffer;
    readonly Dictionary<DicomTag, DicomElement> _elements;

    public bool BigEndian { get; }
    public IEnumerable<DicomTag> Tags => _elements.Keys;

    internal byte[] Buffer => _buffer;

    internal DicomDataset(byte[] buffer, Dictionary<DicomTag, DicomElement> elements, bool bigEndian)
    {
        _buffer = buffer; _elements = elements; BigEndian = bigEndian;
    }

    public bool Contains(DicomTag tag) => _elements.ContainsKey(tag);

    public DicomElement? GetElement(DicomTag tag) => _elements.GetValueOrDefault(tag);

    public ReadOnlySpan<byte> GetBytes(DicomTag tag) =>
        _elements.TryGetValue(tag, out var e) && e.Fragments == null ? _buffer.AsSpan(e.Offset, e.Length) : default;

    /// <summary>A text value with DICOM padding (spaces, NULs) removed; null when absent.
    /// Character sets other than ASCII/Latin-1 are read as Latin-1: this is for codes, dates and numbers.</summary>
    public string? GetString(DicomTag tag)
    {
        if (!_elements.TryGetValue(tag, out var e) || e.Fragments != null) return null;
        return Encoding.Latin1.GetString(_buffer, e.Offset, e.Length).Trim(' ', '\0');
    }

    public string[] GetStrings(DicomTag tag) =>
        GetString(tag) is { } s ? s.Split('\\').Select(v => v.Trim(' ', '\0')).ToArray() : [];

    /// <summary>An unsigned short (US) value; null when absent or empty.</summary>
    public ushort? GetUInt16(DicomTag tag, int index = 0)
    {
        var b = GetBytes(tag);
        if (b.Length < 2 * (index + 1)) return null;
        var s = b.Slice(2 * index, 2);
        return BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
    }

    /// <summary>Decimal (DS) or integer (IS) string values that parse; others are skipped.</summary>
    public double[] GetNumbers(DicomTag tag)
    {
        var list = new List<double>();
        foreach (var v in GetStrings(tag))
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) list.Add(d);
        return list.ToArray();
    }

    public double? GetNumber(DicomTag tag) => GetNumbers(tag) is { Length: > 0 } a ? a[0] : null;
}
