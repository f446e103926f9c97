using System.Buffers.Binary;

namespace MedGemma.Engine.Imaging.Dicom.Codecs;

/// <summary>DICOM RLE Lossless (PS3.5 G): a 64-byte header of segment offsets, one PackBits segment
/// per byte plane, most significant byte first, planes for sample 0 before sample 1.</summary>
internal static class RleDecoder
{
    public static DicomFrame Decode(ReadOnlySpan<byte> data, int width, int height, int spp, int bitsAllocated, string source)
    {
        if (data.Length < 64) throw DicomReader.Invalid(source, "CorruptRle", "has an RLE frame shorter than its 64-byte header");
        int bytesPerSample = bitsAllocated / 8;
        int segments = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (segments != spp * bytesPerSample)
            throw DicomReader.Invalid(source, "CorruptRle", $"has an RLE frame with {segments} segments where {spp * bytesPerSample} are expected");
        int pixels = width * height;
        var samples = new int[pixels * spp];
        var plane = new byte[pixels];
        for (int s = 0; s < segments; s++)
        {
            int start = (int)BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(4 + 4 * s));
            int end = s + 1 < segments ? (int)BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(8 + 4 * s)) : data.Length;
            if (start < 64 || end > data.Length || end < start)
                throw DicomReader.Invalid(source, "CorruptRle", $"has an RLE segment {s} at bytes {start}..{end} outside the frame ({data.Length} bytes)");
            Array.Clear(plane);
            Unpack(data[start..end], plane);
            int sample = s / bytesPerSample;
            int shift = 8 * (bytesPerSample - 1 - s % bytesPerSample);
            for (int p = 0; p < pixels; p++) samples[p * spp + sample] |= plane[p] << shift;
        }
        return new DicomFrame(width, height, spp, samples, "");
    }

    /// <summary>PackBits; output beyond the plane is dropped, a short segment leaves zeros (as decoders commonly do).</summary>
    static void Unpack(ReadOnlySpan<byte> src, byte[] dst)
    {
        int i = 0, o = 0;
        while (i < src.Length && o < dst.Length)
        {
            int n = (sbyte)src[i++];
            if (n >= 0)
            {
                int count = Math.Min(n + 1, Math.Min(src.Length - i, dst.Length - o));
                src.Slice(i, count).CopyTo(dst.AsSpan(o));
                i += n + 1; o += count;
            }
            else if (n != -128)
            {
                if (i >= src.Length) break;
                int count = Math.Min(1 - n, dst.Length - o);
                dst.AsSpan(o, count).Fill(src[i++]);
                o += count;
            }
        }
    }
}
