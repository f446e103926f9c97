using System.Buffers.Binary;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Engine.Tests.Imaging;

/// <summary>Builds small images and crafted/broken files for the imaging tests in a per-test temp folder.</summary>
internal sealed class TestImages : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "medgemma-imaging-" + Guid.NewGuid().ToString("N"));

    public TestImages() => Directory.CreateDirectory(Dir);

    public string PathOf(string name) => Path.Combine(Dir, name);

    public string Write(string name, byte[] bytes)
    {
        var p = PathOf(name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    public string Save<TPixel>(string name, Image<TPixel> image) where TPixel : unmanaged, IPixel<TPixel>
    {
        var p = PathOf(name);
        image.Save(p);
        return p;
    }

    /// <summary>A deterministic RGB pattern with edges and gradients (exercises every resampling tap).</summary>
    public static Image<Rgb24> Pattern(int w, int h, int seed = 1)
    {
        var img = new Image<Rgb24>(w, h);
        var rnd = new Random(seed);
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                img[x, y] = new Rgb24((byte)(x * 255 / Math.Max(1, w - 1)), (byte)((x ^ y) & 0xFF), (byte)rnd.Next(256));
        return img;
    }

    /// <summary>A PNG whose IHDR claims <paramref name="w"/>×<paramref name="h"/> with no pixel data behind it.</summary>
    public static byte[] PngHeaderOnly(int w, int h, byte bitDepth = 8, byte colorType = 2)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = bitDepth; ihdr[9] = colorType;
        Chunk(ms, "IHDR", ihdr);
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    /// <summary>An uncompressed little-endian 16-bit grayscale TIFF with one page per array (ImageSharp 2.1 cannot write one).</summary>
    public static byte[] Gray16Tiff(int w, int h, params ushort[][] pages)
    {
        var ms = new MemoryStream();
        var bw = new BinaryWriter(ms);
        bw.Write("II"u8); bw.Write((ushort)42); bw.Write(0u);
        var prevNext = 4L;
        foreach (var page in pages)
        {
            var dataAt = ms.Position;
            foreach (var v in page) bw.Write(v);
            var ifdAt = ms.Position;
            ms.Position = prevNext; bw.Write((uint)ifdAt); ms.Position = ifdAt;
            var tags = new (ushort Tag, ushort Type, uint Value)[]
            {
                (256, 4, (uint)w), (257, 4, (uint)h), (258, 3, 16), (259, 3, 1), (262, 3, 1),
                (273, 4, (uint)dataAt), (277, 3, 1), (278, 4, (uint)h), (279, 4, (uint)(w * h * 2)),
            };
            bw.Write((ushort)tags.Length);
            foreach (var (tag, type, value) in tags)
            {
                bw.Write(tag); bw.Write(type); bw.Write(1u);
                if (type == 3) { bw.Write((ushort)value); bw.Write((ushort)0); } else bw.Write(value);
            }
            prevNext = ms.Position;
            bw.Write(0u);
        }
        return ms.ToArray();
    }

    static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var td = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(td);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc32(td));
        s.Write(len);
    }

    static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
