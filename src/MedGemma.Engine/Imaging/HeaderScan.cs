using System.Buffers.Binary;

namespace MedGemma.Engine.Imaging;

/// <summary>
/// Facts ImageSharp 2.1's Identify does not expose: GIF frame count, TIFF page count and sample layout.
/// Reads block/IFD headers only, skipping pixel data; caps loops so a hostile file cannot make it spin.
/// </summary>
internal static class HeaderScan
{
    const int MaxFrames = 100_000;

    /// <summary>Counts GIF image descriptors by walking the block structure (sub-block lengths only).</summary>
    public static int GifFrameCount(Stream s)
    {
        s.Position = 0;
        Span<byte> hdr = stackalloc byte[13];
        Span<byte> desc = stackalloc byte[9];
        if (s.ReadAtLeast(hdr, 13, false) < 13) return 1;
        if ((hdr[10] & 0x80) != 0) Skip(s, 3 << ((hdr[10] & 7) + 1));
        var frames = 0;
        while (frames < MaxFrames)
        {
            var b = s.ReadByte();
            if (b is -1 or 0x3B) break;
            if (b == 0x21) { if (s.ReadByte() < 0) break; }
            else if (b == 0x2C)
            {
                if (s.ReadAtLeast(desc, 9, false) < 9) break;
                if ((desc[8] & 0x80) != 0) Skip(s, 3 << ((desc[8] & 7) + 1));
                if (s.ReadByte() < 0) break; // LZW minimum code size
                frames++;
            }
            else break;
            if (!SkipSubBlocks(s)) break;
        }
        return Math.Max(frames, 1);
    }

    public readonly record struct TiffLayout(int Pages, int BitsPerSample, int SamplesPerPixel, int Photometric);

    /// <summary>First IFD's BitsPerSample/SamplesPerPixel/PhotometricInterpretation and the IFD chain length.</summary>
    public static TiffLayout? Tiff(Stream s)
    {
        s.Position = 0;
        Span<byte> h = stackalloc byte[8];
        if (s.ReadAtLeast(h, 8, false) < 8) return null;
        bool le = h[0] == (byte)'I';
        if (Read16(h[2..], le) != 42) return null; // BigTIFF: ImageSharp 2.1 cannot decode it either
        long offset = Read32(h[4..], le);
        int pages = 0, bits = 0, samples = 1, photometric = -1;
        var seen = new HashSet<long>();
        Span<byte> entry = stackalloc byte[12];
        Span<byte> n2 = stackalloc byte[2];
        Span<byte> v = stackalloc byte[2];
        Span<byte> next = stackalloc byte[4];
        while (offset > 0 && offset + 2 <= s.Length && pages < MaxFrames && seen.Add(offset))
        {
            s.Position = offset;
            if (s.ReadAtLeast(n2, 2, false) < 2) break;
            int count = Read16(n2, le);
            if (pages > 0)
            {
                // Later pages only count; skipping their entries keeps a file of many huge, overlapping IFDs cheap.
                s.Position += 12L * count;
                count = 0;
            }
            for (var i = 0; i < count; i++)
            {
                if (s.ReadAtLeast(entry, 12, false) < 12) return new(Math.Max(pages, 1), bits, samples, photometric);
                int tag = Read16(entry, le), type = Read16(entry[2..], le);
                // Inline SHORT values sit in the first two bytes of the value field; a BitsPerSample list with more
                // than two samples lives at an offset, and its entries are (in practice) all equal, so read the first.
                int value = type == 3 ? Read16(entry[8..], le) : (int)Read32(entry[8..], le);
                uint n = Read32(entry[4..], le);
                if (tag == 258 && type == 3 && n > 2)
                {
                    var back = s.Position;
                    s.Position = Read32(entry[8..], le);
                    value = s.ReadAtLeast(v, 2, false) == 2 ? Read16(v, le) : 0;
                    s.Position = back;
                }
                if (tag == 258) bits = value;
                else if (tag == 277) samples = value;
                else if (tag == 262) photometric = value;
            }
            pages++;
            if (s.ReadAtLeast(next, 4, false) < 4) break;
            offset = Read32(next, le);
        }
        return new(Math.Max(pages, 1), bits, samples, photometric);
    }

    static int Read16(ReadOnlySpan<byte> b, bool le) => le ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b);
    static uint Read32(ReadOnlySpan<byte> b, bool le) => le ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);

    static void Skip(Stream s, long n) => s.Position = Math.Min(s.Length, s.Position + n);

    static bool SkipSubBlocks(Stream s)
    {
        while (true)
        {
            var len = s.ReadByte();
            if (len < 0) return false;
            if (len == 0) return true;
            Skip(s, len);
        }
    }
}
