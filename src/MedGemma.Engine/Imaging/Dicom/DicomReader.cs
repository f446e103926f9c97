using System.Buffers.Binary;
using System.IO.Compression;

namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>
/// Reads DICOM Part-10 files (preamble, "DICM", file meta group, data set) in any of the
/// uncompressed, deflated and encapsulated transfer syntaxes. Every declared length is checked
/// against the bytes that remain, sequences are depth-limited, and no allocation is sized by a
/// declared length alone, so malformed files fail with a <see cref="MedGemmaException"/> naming the input.
/// </summary>
public static class DicomReader
{
    const uint UndefinedLength = 0xFFFFFFFF;

    public static DicomImage Read(string path, DicomReadOptions? options = null)
    {
        options ??= DicomReadOptions.Default;
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new MedGemmaException(MedGemmaErrorKind.NotFound, "DicomFileNotFound", $"DICOM file not found: {path}", path);
            if (info.Length > options.MaxBytes)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DicomTooLarge", $"{path}: {info.Length} bytes is over the {options.MaxBytes}-byte limit.", path);
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "DicomFileUnreadable", $"Cannot read {path}: {e.Message}", path, e);
        }
        return Parse(bytes, path, options);
    }

    /// <summary>Reads a whole DICOM stream; <paramref name="source"/> names it in errors.</summary>
    public static DicomImage Read(Stream stream, string source, DicomReadOptions? options = null)
    {
        options ??= DicomReadOptions.Default;
        return Parse(ReadCapped(stream, options.MaxBytes, source), source, options);
    }

    /// <summary>Parses an in-memory Part-10 file.</summary>
    public static DicomImage Parse(byte[] bytes, string source, DicomReadOptions? options = null)
    {
        options ??= DicomReadOptions.Default;
        try
        {
            var dataset = ParseDataset(bytes, source, options, out var ts);
            return new DicomImage(dataset, ts, source, options);
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            // Every length is checked before use; this is the backstop that keeps a bad file from escaping as a crash.
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DicomCorrupt", $"{source}: the DICOM structure is corrupt: {e.Message}", source, e);
        }
    }

    static DicomDataset ParseDataset(byte[] buf, string source, DicomReadOptions options, out DicomTransferSyntax ts)
    {
        if (!DicomFile.IsDicom(buf))
            throw Invalid(source, "NotDicom", "is not a DICOM Part-10 file (no \"DICM\" after the 128-byte preamble)");
        var elements = new Dictionary<DicomTag, DicomElement>();
        var meta = new Parser(buf, source, options, explicitVr: true, bigEndian: false);
        int pos = DicomFile.PreambleLength + 4;
        while (pos + 4 <= buf.Length && BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(pos)) == 0x0002)
            meta.ReadElement(ref pos, buf.Length, 0, elements);

        var tsElement = elements.GetValueOrDefault(DicomTag.TransferSyntaxUid)
            ?? throw Invalid(source, "MissingTransferSyntax", "has no Transfer Syntax UID (0002,0010) in its file meta group");
        var uid = System.Text.Encoding.ASCII.GetString(buf, tsElement.Offset, tsElement.Length).Trim(' ', '\0');
        ts = DicomTransferSyntax.FromUid(uid);

        if (ts.Deflated)
        {
            var inflated = Inflate(buf.AsSpan(pos), options.MaxBytes - pos, source);
            var joined = new byte[pos + inflated.Length];
            buf.AsSpan(0, pos).CopyTo(joined);
            inflated.CopyTo(joined.AsSpan(pos));
            buf = joined;
            // Meta element offsets stay valid: the first pos bytes are unchanged.
        }
        var body = new Parser(buf, source, options, ts.ExplicitVr, ts.BigEndian);
        while (pos < buf.Length)
        {
            // Trailing padding shorter than a tag is tolerated (some writers pad to even length).
            if (buf.Length - pos < 8 && buf.AsSpan(pos).IndexOfAnyExcept((byte)0) < 0) break;
            body.ReadElement(ref pos, buf.Length, 0, elements);
        }
        return new DicomDataset(buf, elements, ts.BigEndian);
    }

    static byte[] Inflate(ReadOnlySpan<byte> data, long max, string source)
    {
        try
        {
            using var input = new DeflateStream(new MemoryStream(data.ToArray()), CompressionMode.Decompress);
            return ReadCapped(input, max, source);
        }
        catch (InvalidDataException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DicomCorruptDeflate", $"{source}: the deflated data set is corrupt: {e.Message}", source, e);
        }
    }

    static byte[] ReadCapped(Stream stream, long max, string source)
    {
        var ms = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (ms.Length + n > max)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DicomTooLarge", $"{source}: data is over the {max}-byte limit.", source);
            ms.Write(chunk, 0, n);
        }
        return ms.ToArray();
    }

    internal static MedGemmaException Invalid(string source, string id, string what) =>
        new(MedGemmaErrorKind.InvalidData, "Dicom" + id, $"{source}: {what}.", source);

    /// <summary>Element-level reader for one encoding (explicit/implicit VR, byte order).</summary>
    sealed class Parser(byte[] buf, string source, DicomReadOptions options, bool explicitVr, bool bigEndian)
    {
        ushort U16(int at) => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(at)) : BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(at));
        uint U32(int at) => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(at)) : BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(at));

        static bool HasLongLength(string vr) => vr is "OB" or "OD" or "OF" or "OL" or "OV" or "OW" or "SQ" or "SV" or "UC" or "UN" or "UR" or "UT" or "UV";

        /// <summary>Reads one element at <paramref name="pos"/>; stores it when <paramref name="store"/> is given (top level).</summary>
        public void ReadElement(ref int pos, int end, int depth, Dictionary<DicomTag, DicomElement>? store)
        {
            int start = pos;
            if (end - pos < 8) throw Truncated(start, "an element header");
            var tag = new DicomTag(U16(pos), U16(pos + 2));
            if (tag.Group == 0xFFFE) throw Invalid(source, "UnexpectedItem", $"item tag {tag} outside a sequence at byte {start}");
            string? vr = null;
            uint length;
            int header;
            bool isExplicit = explicitVr || tag.Group == 0x0002;
            if (isExplicit)
            {
                byte a = buf[pos + 4], b = buf[pos + 5];
                if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
                    throw Invalid(source, "BadVr", $"element {tag} at byte {start} has no valid VR (bytes {a:X2} {b:X2})");
                vr = new string([(char)a, (char)b]);
                if (HasLongLength(vr))
                {
                    if (end - pos < 12) throw Truncated(start, $"the header of {tag}");
                    length = U32(pos + 8);
                    header = 12;
                }
                else
                {
                    length = U16(pos + 6);
                    header = 8;
                }
            }
            else
            {
                length = U32(pos + 4);
                header = 8;
            }
            pos += header;

            if (length == UndefinedLength)
            {
                if (tag == DicomTag.PixelData)
                {
                    var fragments = ReadFragments(ref pos, end, tag);
                    store?.TryAdd(tag, new DicomElement(tag, vr, start, 0, fragments));
                    return;
                }
                if (vr is null or "SQ")
                {
                    SkipSequence(ref pos, end, undefinedLength: true, depth + 1, tag);
                    return;
                }
                if (vr == "UN")
                {
                    // PS3.5 6.2.2: UN of undefined length holds a sequence encoded in implicit VR little endian.
                    new Parser(buf, source, options, explicitVr: false, bigEndian: false).SkipSequence(ref pos, end, undefinedLength: true, depth + 1, tag);
                    return;
                }
                throw Invalid(source, "BadLength", $"element {tag} (VR {vr}) at byte {start} has undefined length, allowed only for sequences and pixel data");
            }
            if (length > (uint)(end - pos))
                throw Invalid(source, "LengthOverrun", $"element {tag} at byte {start} declares {length} bytes but only {end - pos} remain");
            int len = (int)length;
            if (vr == "SQ")
            {
                int p = pos;
                SkipSequence(ref p, pos + len, undefinedLength: false, depth + 1, tag);
            }
            else
            {
                store?.TryAdd(tag, new DicomElement(tag, vr, pos, len));
            }
            pos += len;
        }

        List<(int, int)> ReadFragments(ref int pos, int end, DicomTag tag)
        {
            var list = new List<(int, int)>();
            while (true)
            {
                if (pos == end) return list; // missing delimiter at end of file: keep what is there
                if (end - pos < 8) throw Truncated(pos, $"a fragment of {tag}");
                var itemTag = new DicomTag(U16(pos), U16(pos + 2));
                uint len = U32(pos + 4);
                pos += 8;
                if (itemTag == DicomTag.SequenceDelimitation) return list;
                if (itemTag != DicomTag.Item)
                    throw Invalid(source, "BadFragment", $"encapsulated {tag} has {itemTag} at byte {pos - 8} where a fragment item was expected");
                if (len > (uint)(end - pos))
                    throw Invalid(source, "LengthOverrun", $"a fragment of {tag} at byte {pos - 8} declares {len} bytes but only {end - pos} remain");
                list.Add((pos, (int)len));
                pos += (int)len;
            }
        }

        public void SkipSequence(ref int pos, int end, bool undefinedLength, int depth, DicomTag tag)
        {
            if (depth > options.MaxSequenceDepth)
                throw Invalid(source, "SequenceTooDeep", $"sequence {tag} is nested deeper than {options.MaxSequenceDepth} levels");
            while (true)
            {
                if (pos == end)
                {
                    if (undefinedLength) throw Truncated(pos, $"the end of sequence {tag}");
                    return;
                }
                if (end - pos < 8) throw Truncated(pos, $"an item of sequence {tag}");
                var itemTag = new DicomTag(U16(pos), U16(pos + 2));
                uint len = U32(pos + 4);
                pos += 8;
                if (itemTag == DicomTag.SequenceDelimitation)
                {
                    if (undefinedLength) return;
                    throw Invalid(source, "BadSequence", $"sequence {tag} of defined length contains a sequence delimiter at byte {pos - 8}");
                }
                if (itemTag != DicomTag.Item)
                    throw Invalid(source, "BadSequence", $"sequence {tag} has {itemTag} at byte {pos - 8} where an item was expected");
                if (len == UndefinedLength)
                {
                    while (true)
                    {
                        if (end - pos < 8) throw Truncated(pos, $"the end of an item in sequence {tag}");
                        if (U16(pos) == 0xFFFE && U16(pos + 2) == 0xE00D) { pos += 8; break; }
                        ReadElement(ref pos, end, depth, null);
                    }
                }
                else
                {
                    if (len > (uint)(end - pos))
                        throw Invalid(source, "LengthOverrun", $"an item of sequence {tag} at byte {pos - 8} declares {len} bytes but only {end - pos} remain");
                    int itemEnd = pos + (int)len;
                    while (pos < itemEnd) ReadElement(ref pos, itemEnd, depth, null);
                }
            }
        }

        MedGemmaException Truncated(int at, string what) =>
            Invalid(source, "Truncated", $"is truncated: the data ends at byte {at} inside {what}");
    }
}
