namespace MedGemma.Engine.Imaging.Dicom.Codecs;

/// <summary>
/// JPEG lossless, non-hierarchical (ITU T.81 process 14, SOF3): Huffman-coded differences from one
/// of the seven predictors, optional point transform and restart intervals, one or more
/// components in interleaved or separate scans (sampling factors must be 1).
/// </summary>
internal static class JpegLosslessDecoder
{
    public static DicomFrame Decode(ReadOnlySpan<byte> frame, int expectedWidth, int expectedHeight, string source)
    {
        var r = new JpegMarkerReader(frame.ToArray(), source);
        JpegInfo? info = null;
        int[][]? planes = null;
        int pointTransform = 0;
        while (r.Next() is { } m)
        {
            if (m.IsSof)
            {
                info = r.ParseSof(m);
                // Allocation is sized by the DICOM header (already limited), never by the JPEG header alone.
                if (info.Width != expectedWidth || info.Height != expectedHeight)
                    throw r.Corrupt($"the JPEG frame is {info.Width}x{info.Height} but the DICOM header says {expectedWidth}x{expectedHeight}");
                if (info.Sof != 0xC3)
                    throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedJpeg", $"{source}: JPEG process SOF{info.Sof - 0xC0} in a lossless transfer syntax is not supported.", source);
                if (info.Precision < 2 || info.Precision > 16) throw r.Corrupt($"lossless precision {info.Precision}");
                if (info.Components.Count > 1 && info.Components.Any(c => c.H != 1 || c.V != 1))
                    throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedJpeg", $"{source}: subsampled lossless JPEG is not supported.", source);
                planes = info.Components.Select(_ => new int[info.Width * info.Height]).ToArray();
            }
            else if (m.Code == 0xDA)
            {
                if (info == null || planes == null) throw r.Corrupt("SOS before SOF");
                var scan = r.ParseSos(m, info);
                int start = r.Position, end = r.SkipEntropyData();
                pointTransform = scan.Al;
                DecodeScan(r, info, planes, scan.Comp, scan.Td, scan.Ss, scan.Al, start, end);
            }
        }
        if (info == null || planes == null) throw r.Corrupt("no frame header");
        int n = info.Components.Count, pixels = info.Width * info.Height;
        var samples = new int[pixels * n];
        for (int c = 0; c < n; c++)
        {
            var plane = planes[c];
            for (int p = 0; p < pixels; p++) samples[p * n + c] = plane[p] << pointTransform;
        }
        return new DicomFrame(info.Width, info.Height, n, samples, "");
    }

    static void DecodeScan(JpegMarkerReader r, JpegInfo info, int[][] planes, int[] comps, int[] td, int predictor, int pt, int start, int end)
    {
        if (predictor < 1 || predictor > 7) throw r.Corrupt($"lossless predictor {predictor}");
        var tables = new HuffmanTable[comps.Length];
        for (int i = 0; i < comps.Length; i++)
            tables[i] = r.DcTables[td[i]] ?? throw r.Corrupt($"scan uses Huffman table {td[i]} that is not defined");
        int w = info.Width, h = info.Height, ns = comps.Length;
        int initial = 1 << (info.Precision - pt - 1);
        int restart = r.RestartInterval, untilRestart = restart;
        var bits = new JpegBitReader(r.Data, start, end);
        var scanPlanes = comps.Select(c => planes[c]).ToArray();
        // Row (and column) where the current restart interval began: predictions there restart like at the top of the image.
        int intervalRow = 0, intervalCol = 0;
        for (int y = 0; y < h; y++)
        {
            int row = y * w;
            for (int x = 0; x < w; x++)
            {
                if (restart > 0)
                {
                    if (untilRestart == 0)
                    {
                        bits.Restart();
                        untilRestart = restart;
                        intervalRow = y; intervalCol = x;
                    }
                    untilRestart--;
                }
                for (int i = 0; i < ns; i++)
                {
                    var plane = scanPlanes[i];
                    int t = tables[i].Decode(ref bits);
                    int diff = t == 0 ? 0 : t == 16 ? 32768 : JpegBitReader.Extend(bits.Receive(t), t);
                    int pred;
                    if (y == intervalRow)
                        pred = x == intervalCol ? initial : plane[row + x - 1];
                    else if (x == 0)
                        pred = plane[row - w];
                    else
                    {
                        int ra = plane[row + x - 1], rb = plane[row - w + x], rc = plane[row - w + x - 1];
                        pred = predictor switch
                        {
                            1 => ra,
                            2 => rb,
                            3 => rc,
                            4 => ra + rb - rc,
                            5 => ra + ((rb - rc) >> 1),
                            6 => rb + ((ra - rc) >> 1),
                            _ => (ra + rb) >> 1,
                        };
                    }
                    plane[row + x] = (pred + diff) & 0xFFFF;
                }
            }
        }
    }
}
