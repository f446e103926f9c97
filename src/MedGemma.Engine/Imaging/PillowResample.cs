using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MedGemma.Engine.Imaging;

/// <summary>Pillow's resampling filters, numbered as <c>PIL.Image.Resampling</c> (and HF's <c>resample</c> field).</summary>
public enum PillowFilter
{
    Nearest = 0,
    Lanczos = 1,
    Bilinear = 2,
    Bicubic = 3,
    Box = 4,
    Hamming = 5,
}

/// <summary>
/// A bit-exact port of Pillow's <c>libImaging/Resample.c</c> for 8-bit RGB (<c>Image.resize</c> without a box or
/// reducing_gap): separable convolution, horizontal pass then vertical, filter support widened by the downscale factor
/// (so shrinking antialiases), fixed-point coefficients, and the intermediate image rounded and clamped to 8 bits
/// between the passes. PyTorch's uint8 antialiased bilinear kernel (what torchvision's resize, hence transformers'
/// fast image processors, run) is the same algorithm with int16 weights of lower precision; <c>torchInt16</c> selects
/// that rounding so both reference processors can be matched bit for bit.
/// </summary>
internal static class PillowResample
{
    /// <summary>Pillow: 8 bits for the result and 2 spare for filters with negative lobes (sums can leave [0, 1]).</summary>
    const int PillowPrecisionBits = 32 - 8 - 2;

    /// <summary>Rows × taps below which threading costs more than it saves.</summary>
    const long ParallelThreshold = 200_000;

    static double FilterSupport(PillowFilter f) => f switch
    {
        PillowFilter.Box => 0.5,
        PillowFilter.Bilinear or PillowFilter.Hamming => 1.0,
        PillowFilter.Bicubic => 2.0,
        PillowFilter.Lanczos => 3.0,
        _ => throw new ArgumentOutOfRangeException(nameof(f), f, "Pillow resamples NEAREST without this convolution path."),
    };

    static double Filter(PillowFilter f, double x)
    {
        switch (f)
        {
            case PillowFilter.Box:
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            case PillowFilter.Bilinear:
                if (x < 0.0) x = -x;
                return x < 1.0 ? 1.0 - x : 0.0;
            case PillowFilter.Hamming:
                if (x < 0.0) x = -x;
                if (x == 0.0) return 1.0;
                if (x >= 1.0) return 0.0;
                x *= Math.PI;
                return Math.Sin(x) / x * ((double)0.54f + (double)0.46f * Math.Cos(x)); // Pillow's float literals
            case PillowFilter.Bicubic:
                const double a = -0.5;
                if (x < 0.0) x = -x;
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                return 0.0;
            default: // Lanczos
                return -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;
        }
    }

    static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    /// <summary>Per output index: first source index, tap count, and <c>ksize</c> fixed-point weights with <c>Precision</c> fractional bits.</summary>
    internal sealed record Coefficients(int KSize, int[] Bounds, int[] Weights, int Precision);

    /// <summary>
    /// Pillow's precompute_coeffs + normalize_coeffs_8bpc, or (<paramref name="torchInt16"/>) PyTorch's
    /// _compute_indices_int16_weights_aa: the same float weights, quantised to int16 with the largest precision that
    /// keeps the biggest weight below 2^15 (14 or 15 bits for typical sizes), which rounds a few pixels differently.
    /// </summary>
    internal static Coefficients Precompute(int inSize, int outSize, PillowFilter filter, bool torchInt16 = false)
    {
        // Pillow passes the box as floats: (in1 - in0) is a float subtraction, then widened.
        float in0 = 0f, in1 = inSize;
        double scale = (double)(in1 - in0) / outSize, filterscale = Math.Max(scale, 1.0);
        var support = FilterSupport(filter) * filterscale;
        var ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var k = new double[outSize * ksize];
        for (var xx = 0; xx < outSize; xx++)
        {
            var center = in0 + (xx + 0.5) * scale;
            double ww = 0.0, ss = 1.0 / filterscale;
            var xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            var xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            var row = k.AsSpan(xx * ksize, ksize);
            for (var x = 0; x < xmax; x++)
            {
                var w = Filter(filter, (x + xmin - center + 0.5) * ss);
                row[x] = w;
                ww += w;
            }
            for (var x = 0; x < xmax; x++)
                if (ww != 0.0) row[x] /= ww;
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        var precision = PillowPrecisionBits;
        if (torchInt16)
        {
            var wmax = k[0];
            foreach (var v in k) if (wmax < v) wmax = v;
            for (precision = 0; precision < 22; precision++)
                if ((int)(0.5 + wmax * (1 << (precision + 1))) >= 1 << 15) break;
            precision = Math.Max(precision, 1); // only reachable with weights above 1 (not bilinear)
        }
        var weights = new int[k.Length];
        for (var i = 0; i < k.Length; i++)
        {
            var scaled = k[i] * (1 << precision);
            weights[i] = k[i] < 0 ? (int)(-0.5 + scaled) : (int)(0.5 + scaled);
        }
        return new Coefficients(ksize, bounds, weights, precision);
    }

    static byte Clip8(int v, int precision)
    {
        v >>= precision;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Resizes interleaved RGB <paramref name="src"/> (<paramref name="w"/>×<paramref name="h"/>) to <paramref name="outW"/>×<paramref name="outH"/>.</summary>
    /// <param name="torchInt16">PyTorch's uint8 antialiased kernel (torchvision resize) instead of Pillow's arithmetic.</param>
    public static byte[] ResizeRgb(byte[] src, int w, int h, int outW, int outH, PillowFilter filter, bool torchInt16 = false)
    {
        bool needH = outW != w, needV = outH != h;
        if (!needH && !needV) return (byte[])src.Clone();
        var horiz = Precompute(w, outW, filter, torchInt16);
        var vert = Precompute(h, outH, filter, torchInt16);
        var vBounds = (int[])vert.Bounds.Clone();

        byte[] mid = src;
        int midW = w;
        if (needH)
        {
            // Only the rows the vertical pass will read (Pillow's ybox_first..ybox_last).
            var first = vBounds[0];
            var last = vBounds[outH * 2 - 2] + vBounds[outH * 2 - 1];
            for (var i = 0; i < outH; i++) vBounds[i * 2] -= first;
            mid = new byte[(last - first) * outW * 3];
            Horizontal(src, w, first, last - first, mid, outW, horiz);
            midW = outW;
        }
        if (!needV) return mid;
        var dst = new byte[outW * outH * 3];
        Vertical(mid, midW, dst, outH, vert with { Bounds = vBounds });
        return dst;
    }

    static void Horizontal(byte[] src, int w, int rowOffset, int rows, byte[] dst, int outW, Coefficients c)
    {
        var work = (long)rows * outW * c.KSize;
        if (work < ParallelThreshold) { for (var y = 0; y < rows; y++) HorizontalRow(src, w, y + rowOffset, dst, y, outW, c); }
        else Parallel.For(0, rows, y => HorizontalRow(src, w, y + rowOffset, dst, y, outW, c));
    }

    static unsafe void HorizontalRow(byte[] src, int w, int srcRow, byte[] dst, int dstRow, int outW, Coefficients c)
    {
        int precision = c.Precision, half = 1 << (precision - 1);
        var ksize = c.KSize;
        fixed (byte* srcBase = src, dstBase = dst)
        fixed (int* bounds = c.Bounds, weights = c.Weights)
        {
            var input = srcBase + (long)srcRow * w * 3;
            var output = dstBase + (long)dstRow * outW * 3;
            // Reading 4 bytes per tap (RGB + the next pixel's R, ignored) is safe except at the array's very end.
            var simdEnd = srcBase + src.Length - 4;
            for (var xx = 0; xx < outW; xx++)
            {
                int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
                var k = weights + xx * ksize;
                var p = input + xmin * 3;
                int ss0 = half, ss1 = half, ss2 = half;
                if (Sse41.IsSupported && p + (xmax - 1) * 3 <= simdEnd)
                {
                    var acc = Vector128.Create(half);
                    for (var x = 0; x < xmax; x++, p += 3)
                        acc = Sse2.Add(acc, Sse41.MultiplyLow(Sse41.ConvertToVector128Int32(p), Vector128.Create(k[x])));
                    ss0 = acc.GetElement(0);
                    ss1 = acc.GetElement(1);
                    ss2 = acc.GetElement(2);
                }
                else
                {
                    for (var x = 0; x < xmax; x++, p += 3)
                    {
                        var kx = k[x];
                        ss0 += p[0] * kx;
                        ss1 += p[1] * kx;
                        ss2 += p[2] * kx;
                    }
                }
                output[3 * xx] = Clip8(ss0, precision);
                output[3 * xx + 1] = Clip8(ss1, precision);
                output[3 * xx + 2] = Clip8(ss2, precision);
            }
        }
    }

    static void Vertical(byte[] src, int w, byte[] dst, int outH, Coefficients c)
    {
        var work = (long)outH * w * c.KSize;
        if (work < ParallelThreshold) { for (var y = 0; y < outH; y++) VerticalRow(src, w, dst, y, c); }
        else Parallel.For(0, outH, y => VerticalRow(src, w, dst, y, c));
    }

    /// <summary>Pillow sums taps per pixel; summing row by row into an accumulator gives the same integers (no overflow) and vectorises.</summary>
    static unsafe void VerticalRow(byte[] src, int w, byte[] dst, int yy, Coefficients c)
    {
        var stride = w * 3;
        int ymin = c.Bounds[yy * 2], ymax = c.Bounds[yy * 2 + 1];
        var acc = new int[stride];
        acc.AsSpan().Fill(1 << (c.Precision - 1));
        fixed (byte* srcBase = src, dstBase = dst)
        fixed (int* a = acc)
        {
            for (var y = 0; y < ymax; y++)
            {
                var k = c.Weights[yy * c.KSize + y];
                var row = srcBase + (long)(ymin + y) * stride;
                var i = 0;
                if (Avx2.IsSupported)
                {
                    var kv = Vector256.Create(k);
                    for (; i <= stride - 8; i += 8)
                        Avx.Store(a + i, Avx2.Add(Avx.LoadVector256(a + i), Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(row + i), kv)));
                }
                for (; i < stride; i++) a[i] += row[i] * k;
            }
            var output = dstBase + (long)yy * stride;
            for (var i = 0; i < stride; i++) output[i] = Clip8(a[i], c.Precision);
        }
    }
}
