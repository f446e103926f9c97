using System.Buffers.Binary;

namespace MedGemma.Engine.Imaging.Dicom.Codecs;

/// <summary>Groups the fragments of encapsulated pixel data into frames (PS3.5 A.4).</summary>
internal static class EncapsulatedFrames
{
    public static List<byte[]> Split(byte[] buf, IReadOnlyList<(int Offset, int Length)> fragments, int frames, DicomPixelEncoding encoding, string source)
    {
        if (fragments.Count < 2) throw DicomReader.Invalid(source, "NoFragments", "has encapsulated pixel data without any frame fragment");
        var table = fragments[0];
        var data = fragments.Skip(1).ToList();
        List<List<(int Offset, int Length)>> groups;
        if (frames == 1)
            groups = [data];
        else if (table.Length == 4 * frames)
            groups = ByOffsetTable(buf, table, data, frames, source);
        else if (data.Count == frames)
            groups = data.Select(f => new List<(int, int)> { f }).ToList();
        else if (encoding is DicomPixelEncoding.JpegDct or DicomPixelEncoding.JpegLossless)
            groups = ByJpegStart(buf, data, frames, source); // no offset table: each frame starts with an SOI marker
        else
            throw DicomReader.Invalid(source, "FrameSplit", $"has {data.Count} fragments, no offset table, and {frames} frames: cannot tell where frames start");

        var result = new List<byte[]>(groups.Count);
        foreach (var g in groups)
        {
            var bytes = new byte[g.Sum(f => (long)f.Length)];
            int at = 0;
            foreach (var (off, len) in g) { Array.Copy(buf, off, bytes, at, len); at += len; }
            result.Add(bytes);
        }
        return result;
    }

    static List<List<(int, int)>> ByOffsetTable(byte[] buf, (int Offset, int Length) table, List<(int Offset, int Length)> data, int frames, string source)
    {
        // Offsets count from the first byte of the first fragment's item tag.
        int origin = data[0].Offset - 8;
        var starts = new uint[frames];
        for (int i = 0; i < frames; i++) starts[i] = BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(table.Offset + 4 * i));
        var groups = new List<List<(int, int)>>();
        for (int i = 0; i < frames; i++)
        {
            long from = starts[i], to = i + 1 < frames ? starts[i + 1] : long.MaxValue;
            var g = data.Where(f => f.Offset - 8 - origin >= from && f.Offset - 8 - origin < to).ToList();
            if (g.Count == 0 || g[0].Offset - 8 - origin != from)
                throw DicomReader.Invalid(source, "BadOffsetTable", $"has a basic offset table entry {from} for frame {i} that is not a fragment start");
            groups.Add(g);
        }
        return groups;
    }

    static List<List<(int, int)>> ByJpegStart(byte[] buf, List<(int Offset, int Length)> data, int frames, string source)
    {
        var groups = new List<List<(int, int)>>();
        foreach (var f in data)
        {
            bool soi = f.Length >= 2 && buf[f.Offset] == 0xFF && buf[f.Offset + 1] == 0xD8;
            if (soi || groups.Count == 0) groups.Add([]);
            groups[^1].Add(f);
        }
        if (groups.Count != frames)
            throw DicomReader.Invalid(source, "FrameSplit", $"has {groups.Count} JPEG streams in its fragments but declares {frames} frames");
        return groups;
    }
}
