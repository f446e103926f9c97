using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace MedGemma.Engine.Imaging.Dicom.Codecs;

/// <summary>A frame component from the SOF header.</summary>
internal sealed record JpegComponent(int Id, int H, int V, int Tq);

/// <summary>The SOF header of a JPEG stream: process, precision, size, components.</summary>
internal sealed record JpegInfo(int Sof, int Precision, int Width, int Height, IReadOnlyList<JpegComponent> Components)
{
    /// <summary>Finds the frame header without decoding anything.</summary>
    public static JpegInfo Read(ReadOnlySpan<byte> data, string source)
    {
        var reader = new JpegMarkerReader(data.ToArray(), source);
        while (reader.Next() is { } m)
        {
            if (m.IsSof) return reader.ParseSof(m);
            if (m.Code == 0xDA) break;
        }
        throw DicomReader.Invalid(source, "CorruptJpeg", "has a JPEG frame without a frame header (SOF)");
    }
}

internal readonly record struct JpegMarker(int Code, int Start, int Length)
{
    /// <summary>SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).</summary>
    public bool IsSof => Code >= 0xC0 && Code <= 0xCF && Code != 0xC4 && Code != 0xC8 && Code != 0xCC;
}

/// <summary>Walks the marker segments of a JPEG stream and parses the tables both decoders need.</summary>
internal sealed class JpegMarkerReader(byte[] data, string source)
{
    int _pos;
    public byte[] Data => data;
    public string Source => source;
    public HuffmanTable?[] DcTables { get; } = new HuffmanTable?[4];
    public HuffmanTable?[] AcTables { get; } = new HuffmanTable?[4];
    public int[]?[] QuantTables { get; } = new int[]?[4];
    public int RestartInterval { get; private set; }

    /// <summary>The next marker segment (payload at Start, Length bytes), or null at EOI / end of data.</summary>
    public JpegMarker? Next()
    {
        while (true)
        {
            if (_pos + 2 > data.Length) return null;
            if (data[_pos] != 0xFF) { _pos++; continue; } // tolerate junk between segments
            int code = data[_pos + 1];
            if (code == 0xFF) { _pos++; continue; }
            _pos += 2;
            if (code == 0xD9) return null;
            if (code == 0xD8 || code == 0x01 || (code >= 0xD0 && code <= 0xD7)) continue;
            if (_pos + 2 > data.Length) throw Corrupt("a marker segment is truncated");
            int len = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(_pos));
            if (len < 2 || _pos + len > data.Length) throw Corrupt($"marker FF{code:X2} declares {len} bytes past the end of the frame");
            var m = new JpegMarker(code, _pos + 2, len - 2);
            _pos += len;
            switch (code)
            {
                case 0xC4: ParseDht(m); break;
                case 0xDB: ParseDqt(m); break;
                case 0xDD: RestartInterval = m.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(m.Start)) : throw Corrupt("DRI is too short"); break;
            }
            return m;
        }
    }

    /// <summary>Skips the entropy-coded data after an SOS and returns its end (the next non-RST marker).</summary>
    public int SkipEntropyData()
    {
        int p = _pos;
        while (p + 1 < data.Length)
        {
            if (data[p] == 0xFF && data[p + 1] != 0 && (data[p + 1] < 0xD0 || data[p + 1] > 0xD7) && data[p + 1] != 0xFF) break;
            p++;
        }
        if (p + 1 >= data.Length) p = data.Length;
        int start = _pos;
        _pos = p;
        return p;
    }

    public int Position => _pos;

    public JpegInfo ParseSof(JpegMarker m)
    {
        if (m.Length < 6) throw Corrupt("SOF is too short");
        var s = data.AsSpan(m.Start, m.Length);
        int precision = s[0], height = BinaryPrimitives.ReadUInt16BigEndian(s[1..]), width = BinaryPrimitives.ReadUInt16BigEndian(s[3..]), n = s[5];
        if (m.Length < 6 + 3 * n || n == 0) throw Corrupt("SOF component list is truncated");
        if (width == 0 || height == 0) throw Corrupt($"SOF declares a {width}x{height} image");
        var comps = new List<JpegComponent>();
        for (int i = 0; i < n; i++)
            comps.Add(new JpegComponent(s[6 + 3 * i], s[7 + 3 * i] >> 4, s[7 + 3 * i] & 15, s[8 + 3 * i] & 3));
        return new JpegInfo(m.Code, precision, width, height, comps);
    }

    /// <summary>Scan header: component indexes into the frame with their DC/AC tables, Ss, Se, Ah, Al.</summary>
    public (int[] Comp, int[] Td, int[] Ta, int Ss, int Se, int Ah, int Al) ParseSos(JpegMarker m, JpegInfo frame)
    {
        var s = data.AsSpan(m.Start, m.Length);
        if (s.Length < 1) throw Corrupt("SOS is too short");
        int n = s[0];
        if (n < 1 || n > 4 || s.Length < 1 + 2 * n + 3) throw Corrupt("SOS is truncated");
        var comp = new int[n]; var td = new int[n]; var ta = new int[n];
        for (int i = 0; i < n; i++)
        {
            int id = s[1 + 2 * i];
            comp[i] = frame.Components.ToList().FindIndex(c => c.Id == id);
            if (comp[i] < 0) throw Corrupt($"SOS names component {id} that the frame does not have");
            td[i] = (s[2 + 2 * i] >> 4) & 3; ta[i] = s[2 + 2 * i] & 3;
        }
        int k = 1 + 2 * n;
        return (comp, td, ta, s[k], s[k + 1], s[k + 2] >> 4, s[k + 2] & 15);
    }

    void ParseDht(JpegMarker m)
    {
        int p = m.Start, end = m.Start + m.Length;
        while (p < end)
        {
            if (p + 17 > end) throw Corrupt("DHT is truncated");
            int tc = data[p] >> 4, th = data[p] & 3;
            var counts = data.AsSpan(p + 1, 16).ToArray();
            int total = counts.Sum(c => c);
            if (p + 17 + total > end) throw Corrupt("DHT values are truncated");
            var table = new HuffmanTable(counts, data.AsSpan(p + 17, total).ToArray(), source);
            if (tc == 0) DcTables[th] = table; else AcTables[th] = table;
            p += 17 + total;
        }
    }

    void ParseDqt(JpegMarker m)
    {
        int p = m.Start, end = m.Start + m.Length;
        while (p < end)
        {
            int pq = data[p] >> 4, tq = data[p] & 3;
            int size = pq == 0 ? 64 : 128;
            if (p + 1 + size > end) throw Corrupt("DQT is truncated");
            var q = new int[64];
            for (int i = 0; i < 64; i++)
                q[JpegDctDecoder.ZigZag[i]] = pq == 0 ? data[p + 1 + i] : BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(p + 1 + 2 * i));
            QuantTables[tq] = q;
            p += 1 + size;
        }
    }

    public MedGemmaException Corrupt(string what) => DicomReader.Invalid(source, "CorruptJpeg", $"has a corrupt JPEG frame: {what}");
}

/// <summary>A canonical Huffman table with a 9-bit lookup for short codes.</summary>
internal sealed class HuffmanTable
{
    const int LookBits = 9;
    readonly ushort[] _lookup = new ushort[1 << LookBits]; // (length << 8) | value; 0 = not a short code
    readonly int[] _maxCode = new int[18];
    readonly int[] _valPtr = new int[17];
    readonly byte[] _values;

    public HuffmanTable(byte[] counts, byte[] values, string source)
    {
        _values = values;
        int code = 0, k = 0;
        for (int len = 1; len <= 16; len++)
        {
            _valPtr[len] = k - code;
            for (int i = 0; i < counts[len - 1]; i++, k++, code++)
            {
                if (len <= LookBits)
                {
                    int shift = LookBits - len;
                    for (int j = 0; j < 1 << shift; j++) _lookup[(code << shift) | j] = (ushort)((len << 8) | values[k]);
                }
            }
            _maxCode[len] = counts[len - 1] == 0 ? -1 : code - 1;
            if (code > 1 << len) throw DicomReader.Invalid(source, "CorruptJpeg", "has a corrupt JPEG frame: an over-full Huffman table");
            code <<= 1;
        }
        _maxCode[17] = int.MaxValue;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Decode(ref JpegBitReader r)
    {
        r.EnsureBits(16);
        int e = _lookup[r.Peek(LookBits)];
        if (e != 0) { r.Skip(e >> 8); return e & 0xFF; }
        for (int len = LookBits + 1; len <= 16; len++)
        {
            int code = r.Peek(len);
            if (code <= _maxCode[len]) { r.Skip(len); return _values[_valPtr[len] + code]; }
        }
        throw new ArgumentException("an invalid Huffman code");
    }
}

/// <summary>MSB-first bit reader over entropy-coded data: removes FF00 stuffing, stops at markers
/// (feeding zeros after them), and re-synchronises on RSTn.</summary>
internal struct JpegBitReader(byte[] data, int pos, int end)
{
    ulong _buf;
    int _bits;
    int _pos = pos;
    public int Overrun { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EnsureBits(int n)
    {
        if (_bits < n) Fill();
    }

    void Fill()
    {
        // Fast path: as many whole bytes as fit, when none of them is 0xFF (no stuffing, no marker).
        if (_pos + 8 <= end)
        {
            int k = (64 - _bits) >> 3;
            ulong word = BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(_pos));
            ulong mask = k == 8 ? ulong.MaxValue : ~(ulong.MaxValue >> (8 * k));
            ulong inv = ~word;
            if (((inv - 0x0101010101010101UL) & ~inv & 0x8080808080808080UL & mask) == 0)
            {
                _buf |= (word & mask) >> _bits;
                _bits += 8 * k;
                _pos += k;
                return;
            }
        }
        while (_bits <= 56)
        {
            int b = 0;
            if (_pos < end)
            {
                b = data[_pos];
                if (b == 0xFF)
                {
                    int next = _pos + 1 < end ? data[_pos + 1] : 0xD9;
                    if (next == 0x00) _pos += 2;
                    else { b = 0; Overrun++; } // a marker: stay on it, feed zeros
                }
                else _pos++;
            }
            else Overrun++;
            _buf |= (ulong)b << (56 - _bits);
            _bits += 8;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Peek(int n) => (int)(_buf >> (64 - n));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Skip(int n) { _buf <<= n; _bits -= n; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Receive(int n)
    {
        if (n == 0) return 0;
        EnsureBits(n);
        int v = Peek(n);
        Skip(n);
        return v;
    }

    public static int Extend(int v, int n) => n == 0 ? 0 : v < 1 << (n - 1) ? v - (1 << n) + 1 : v;

    /// <summary>Drops buffered bits and skips the next RSTn marker, if one is there.</summary>
    public void Restart()
    {
        _buf = 0; _bits = 0; Overrun = 0;
        while (_pos + 1 < end && !(data[_pos] == 0xFF && data[_pos + 1] >= 0xD0 && data[_pos + 1] <= 0xD7)) _pos++;
        if (_pos + 1 < end) _pos += 2;
    }
}
