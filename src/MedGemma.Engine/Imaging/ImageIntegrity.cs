using System.Buffers.Binary;

namespace MedGemma.Engine.Imaging;

/// <summary>
/// Catches truncated PNG and JPEG files before decoding. ImageSharp fills the missing part of a truncated file
/// with zeros/gray and returns no error; Pillow (the reference) refuses such files ("image file is truncated"),
/// and a half-gray training image is worse than a clear error. Reads only chunk/segment headers and the tail.
/// </summary>
internal static class ImageIntegrity
{
    public static void Check(Stream s, string format, string source)
    {
        var ok = format switch
        {
            "PNG" => PngComplete(s),
            "JPEG" => JpegComplete(s),
            _ => true,
        };
        s.Position = 0;
        if (!ok) throw ImageErrors.Corrupt(source, $"the {format} file is truncated or damaged (its data ends before the end-of-image marker).");
    }

    /// <summary>Every chunk fits in the file and the chunk list reaches IEND.</summary>
    static bool PngComplete(Stream s)
    {
        var length = s.Length;
        long pos = 8;
        Span<byte> head = stackalloc byte[8];
        while (pos + 12 <= length)
        {
            s.Position = pos;
            if (s.ReadAtLeast(head, 8, false) < 8) return false;
            long n = BinaryPrimitives.ReadUInt32BigEndian(head);
            if (n > int.MaxValue) return false;
            var end = pos + 12 + n;
            if (end > length) return false;
            if (head[4] == (byte)'I' && head[5] == (byte)'E' && head[6] == (byte)'N' && head[7] == (byte)'D') return true;
            pos = end;
        }
        return false;
    }

    /// <summary>An EOI marker (FF D9) follows the first start-of-scan. Entropy-coded data stuffs FF as FF 00, so FF D9 there is the real end.</summary>
    static bool JpegComplete(Stream s)
    {
        var length = s.Length;
        var sos = FirstScan(s, length);
        if (sos < 0) return false;
        // Usually EOI is within the last bytes (trailers after it are rare): look there first, then everywhere after SOS.
        var tailStart = Math.Max(sos, length - 64 * 1024);
        return ContainsEoi(s, tailStart, length) || (tailStart > sos && ContainsEoi(s, sos, tailStart + 1));
    }

    static long FirstScan(Stream s, long length)
    {
        s.Position = 2;
        Span<byte> len = stackalloc byte[2];
        while (s.Position < length)
        {
            var b = s.ReadByte();
            if (b != 0xFF) return -1;
            int marker;
            do marker = s.ReadByte(); while (marker == 0xFF);
            if (marker < 0) return -1;
            if (marker == 0xDA) return s.Position;
            if (marker is 0x01 or (>= 0xD0 and <= 0xD8)) continue;
            if (marker == 0xD9) return -1;
            if (s.ReadAtLeast(len, 2, false) < 2) return -1;
            var n = BinaryPrimitives.ReadUInt16BigEndian(len);
            if (n < 2) return -1;
            s.Position += n - 2;
        }
        return -1;
    }

    static bool ContainsEoi(Stream s, long from, long to)
    {
        var buf = new byte[64 * 1024];
        var prevFF = false;
        s.Position = from;
        while (s.Position < to)
        {
            var n = s.Read(buf, 0, (int)Math.Min(buf.Length, to - s.Position));
            if (n <= 0) return false;
            var span = buf.AsSpan(0, n);
            if (prevFF && span[0] == 0xD9) return true;
            var i = 0;
            while (true)
            {
                var k = span[i..].IndexOf((byte)0xFF);
                if (k < 0) break;
                i += k + 1;
                if (i >= n) break;
                if (span[i] == 0xD9) return true;
            }
            prevFF = span[n - 1] == 0xFF;
        }
        return false;
    }
}
