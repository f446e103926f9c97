namespace MedGemma.Engine.Imaging.Dicom.Codecs;

/// <summary>
/// Sequential Huffman DCT JPEG (SOF0/SOF1) at 8 or 12 bits, for what ImageSharp cannot read:
/// 12-bit "extended" frames. Components must not be subsampled (DICOM 12-bit JPEG is monochrome).
/// The inverse DCT is the IJG "islow" integer transform, so results equal libjpeg's (and dcmtk's).
/// </summary>
internal static class JpegDctDecoder
{
    public static readonly int[] ZigZag =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ];

    public static DicomFrame Decode(ReadOnlySpan<byte> frame, int expectedWidth, int expectedHeight, string source)
    {
        var r = new JpegMarkerReader(frame.ToArray(), source);
        JpegInfo? info = null;
        int[][]? planes = null;
        int blocksX = 0, blocksY = 0;
        while (r.Next() is { } m)
        {
            if (m.IsSof)
            {
                info = r.ParseSof(m);
                // Allocation is sized by the DICOM header (already limited), never by the JPEG header alone.
                if (info.Width != expectedWidth || info.Height != expectedHeight)
                    throw r.Corrupt($"the JPEG frame is {info.Width}x{info.Height} but the DICOM header says {expectedWidth}x{expectedHeight}");
                if (info.Sof is not (0xC0 or 0xC1))
                    throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedJpeg", $"{source}: JPEG process SOF{info.Sof - 0xC0} (progressive, arithmetic or hierarchical) is not supported.", source);
                if (info.Precision is not (8 or 12)) throw r.Corrupt($"DCT precision {info.Precision}");
                if (info.Components.Count > 1 && info.Components.Any(c => c.H != 1 || c.V != 1))
                    throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedJpeg", $"{source}: subsampled {info.Precision}-bit JPEG is not supported.", source);
                blocksX = (info.Width + 7) / 8; blocksY = (info.Height + 7) / 8;
                planes = info.Components.Select(_ => new int[blocksX * 8 * blocksY * 8]).ToArray();
            }
            else if (m.Code == 0xDA)
            {
                if (info == null || planes == null) throw r.Corrupt("SOS before SOF");
                var scan = r.ParseSos(m, info);
                int start = r.Position, end = r.SkipEntropyData();
                DecodeScan(r, info, planes, blocksX, blocksY, scan.Comp, scan.Td, scan.Ta, start, end);
            }
        }
        if (info == null || planes == null) throw r.Corrupt("no frame header");
        int n = info.Components.Count, w = info.Width, h = info.Height, stride = blocksX * 8;
        var samples = new int[w * h * n];
        for (int c = 0; c < n; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) samples[(y * w + x) * n + c] = planes[c][y * stride + x];
        return new DicomFrame(w, h, n, samples, "");
    }

    static void DecodeScan(JpegMarkerReader r, JpegInfo info, int[][] planes, int blocksX, int blocksY, int[] comps, int[] td, int[] ta, int start, int end)
    {
        int ns = comps.Length;
        var dc = new HuffmanTable[ns]; var ac = new HuffmanTable[ns]; var q = new int[ns][];
        for (int i = 0; i < ns; i++)
        {
            dc[i] = r.DcTables[td[i]] ?? throw r.Corrupt($"scan uses DC table {td[i]} that is not defined");
            ac[i] = r.AcTables[ta[i]] ?? throw r.Corrupt($"scan uses AC table {ta[i]} that is not defined");
            q[i] = r.QuantTables[info.Components[comps[i]].Tq] ?? throw r.Corrupt("a component uses an undefined quantisation table");
        }
        var bits = new JpegBitReader(r.Data, start, end);
        var pred = new int[ns];
        var coef = new long[64];
        var work = new long[64];
        int restart = r.RestartInterval, untilRestart = restart;
        int stride = blocksX * 8, precision = info.Precision;
        for (int by = 0; by < blocksY; by++)
            for (int bx = 0; bx < blocksX; bx++)
            {
                if (restart > 0)
                {
                    if (untilRestart == 0) { bits.Restart(); untilRestart = restart; Array.Clear(pred); }
                    untilRestart--;
                }
                for (int i = 0; i < ns; i++)
                {
                    Array.Clear(coef);
                    int t = dc[i].Decode(ref bits);
                    if (t > 16) throw new ArgumentException($"DC magnitude category {t}");
                    pred[i] += JpegBitReader.Extend(bits.Receive(t), t);
                    coef[0] = (long)pred[i] * q[i][0];
                    for (int k = 1; k < 64;)
                    {
                        int rs = ac[i].Decode(ref bits);
                        int run = rs >> 4, size = rs & 15;
                        if (size == 0)
                        {
                            if (run != 15) break;
                            k += 16;
                            continue;
                        }
                        k += run;
                        if (k > 63) throw new ArgumentException("AC coefficients run past the block");
                        int z = ZigZag[k];
                        coef[z] = (long)JpegBitReader.Extend(bits.Receive(size), size) * q[i][z];
                        k++;
                    }
                    InverseDctIslow(coef, work, planes[comps[i]], (by * 8) * stride + bx * 8, stride, precision);
                }
            }
    }

    const int ConstBits = 13;

    /// <summary>IJG jidctint.c (libjpeg 6b) with dequantised input; PASS1_BITS is 2 for 8-bit, 1 for 12-bit.</summary>
    static void InverseDctIslow(long[] input, long[] ws, int[] output, int at, int stride, int precision)
    {
        int pass1 = precision == 8 ? 2 : 1;
        int center = 1 << (precision - 1), max = (1 << precision) - 1;
        for (int c = 0; c < 8; c++)
        {
            long z2 = input[16 + c], z3 = input[48 + c];
            long z1 = (z2 + z3) * 4433;
            long tmp2 = z1 + z3 * -15137;
            long tmp3 = z1 + z2 * 6270;
            z2 = input[c]; z3 = input[32 + c];
            long tmp0 = (z2 + z3) << ConstBits;
            long tmp1 = (z2 - z3) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
            Odd(input[56 + c], input[40 + c], input[24 + c], input[8 + c], out var o0, out var o1, out var o2, out var o3);
            int sh = ConstBits - pass1;
            ws[c] = Descale(tmp10 + o3, sh); ws[56 + c] = Descale(tmp10 - o3, sh);
            ws[8 + c] = Descale(tmp11 + o2, sh); ws[48 + c] = Descale(tmp11 - o2, sh);
            ws[16 + c] = Descale(tmp12 + o1, sh); ws[40 + c] = Descale(tmp12 - o1, sh);
            ws[24 + c] = Descale(tmp13 + o0, sh); ws[32 + c] = Descale(tmp13 - o0, sh);
        }
        for (int rIdx = 0; rIdx < 8; rIdx++)
        {
            int b = rIdx * 8;
            long z2 = ws[b + 2], z3 = ws[b + 6];
            long z1 = (z2 + z3) * 4433;
            long tmp2 = z1 + z3 * -15137;
            long tmp3 = z1 + z2 * 6270;
            long tmp0 = (ws[b] + ws[b + 4]) << ConstBits;
            long tmp1 = (ws[b] - ws[b + 4]) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
            Odd(ws[b + 7], ws[b + 5], ws[b + 3], ws[b + 1], out var o0, out var o1, out var o2, out var o3);
            int sh = ConstBits + pass1 + 3;
            int o = at + rIdx * stride;
            output[o] = Clamp(Descale(tmp10 + o3, sh) + center, max);
            output[o + 7] = Clamp(Descale(tmp10 - o3, sh) + center, max);
            output[o + 1] = Clamp(Descale(tmp11 + o2, sh) + center, max);
            output[o + 6] = Clamp(Descale(tmp11 - o2, sh) + center, max);
            output[o + 2] = Clamp(Descale(tmp12 + o1, sh) + center, max);
            output[o + 5] = Clamp(Descale(tmp12 - o1, sh) + center, max);
            output[o + 3] = Clamp(Descale(tmp13 + o0, sh) + center, max);
            output[o + 4] = Clamp(Descale(tmp13 - o0, sh) + center, max);
        }
    }

    /// <summary>Odd part of the 1-D IDCT; inputs are rows/columns 7, 5, 3, 1.</summary>
    static void Odd(long tmp0, long tmp1, long tmp2, long tmp3, out long o0, out long o1, out long o2, out long o3)
    {
        long z1 = tmp0 + tmp3, z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
        long z5 = (z3 + z4) * 9633;
        tmp0 *= 2446; tmp1 *= 16819; tmp2 *= 25172; tmp3 *= 12299;
        z1 *= -7373; z2 *= -20995; z3 *= -16069; z4 *= -3196;
        z3 += z5; z4 += z5;
        o0 = tmp0 + z1 + z3; o1 = tmp1 + z2 + z4; o2 = tmp2 + z2 + z3; o3 = tmp3 + z1 + z4;
    }

    static long Descale(long x, int n) => (x + (1L << (n - 1))) >> n;

    static int Clamp(long v, int max) => v < 0 ? 0 : v > max ? max : (int)v;
}
