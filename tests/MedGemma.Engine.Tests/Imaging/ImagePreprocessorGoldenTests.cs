using System.Buffers.Binary;
using System.Text.Json;
using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;
using Xunit.Abstractions;

namespace MedGemma.Engine.Tests.Imaging;

/// <summary>
/// Parity with Gemma3ImageProcessor (tests/fixtures/images/preprocess_golden.*): size 56 full tensors, size 896
/// subsampled [:, :, ::8, ::8]. The fixture was made by transformers' fast (torchvision) processor — its fused
/// normalisation reproduces the floats bit for bit — so the default backend must match PNG exactly; the Pillow
/// backend (the slow processor) may differ by one 8-bit step on a few pixels.
/// </summary>
public class ImagePreprocessorGoldenTests(ITestOutputHelper output)
{
    static string Images => Path.Combine(Fixtures.Root, "images");

    public static TheoryData<string, int> Cases() => new()
    {
        { "img_gray_300x240.png", 56 }, { "img_rgb_500x380.png", 56 }, { "img_rgb_500x380.jpg", 56 },
        { "img_gray_300x240.png", 896 }, { "img_rgb_500x380.png", 896 }, { "img_rgb_500x380.jpg", 896 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_the_reference_processor(string file, int size)
    {
        var (mean, max) = Compare(file, size, ImageProcessorBackend.Torchvision);
        Assert.True(mean <= 0.002, $"mean |Δ| {mean}");
        if (file.EndsWith(".png", StringComparison.Ordinal)) Assert.Equal(0.0, max);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Pillow_backend_is_within_one_step(string file, int size)
    {
        var (mean, max) = Compare(file, size, ImageProcessorBackend.Pillow);
        Assert.True(mean <= 0.002, $"mean |Δ| {mean}");
        if (file.EndsWith(".png", StringComparison.Ordinal)) Assert.True(max <= 0.008, $"max |Δ| {max}");
    }

    /// <summary>The end-to-end fixture's full 896×896 pixel_values, with the processor config of the saved model folder.</summary>
    [Theory]
    [InlineData("case0", "img_gray_300x240.png")]
    [InlineData("case1", "img_rgb_500x380.jpg")]
    public void Matches_the_end_to_end_pixel_values(string caseName, string file)
    {
        var golden = ReadF32(Path.Combine(Fixtures.Folder("tiny-medgemma-e2e"), "golden.safetensors"), caseName + ".pixel_values", out var shape);
        Assert.Equal([1L, 3, 896, 896], shape);
        var pre = ImagePreprocessor.FromModelFolder(Path.Combine(Fixtures.Root, "tiny-medgemma-snapshot"));
        var ours = pre.Preprocess(ImageLoader.Load(Path.Combine(Images, file)));
        Assert.Equal(golden.Length, ours.Length);
        double sum = 0, max = 0;
        for (var i = 0; i < ours.Length; i++)
        {
            var d = Math.Abs(ours[i] - golden[i]);
            sum += d;
            max = Math.Max(max, d);
        }
        output.WriteLine($"{caseName} {file}: mean |Δ| = {sum / ours.Length:G4}, max |Δ| = {max:G4}");
        Assert.True(sum / ours.Length <= 0.002, $"mean |Δ| {sum / ours.Length}");
        if (file.EndsWith(".png", StringComparison.Ordinal)) Assert.Equal(0.0, max);
    }

    (double Mean, double Max) Compare(string file, int size, ImageProcessorBackend backend)
    {
        var golden = ReadF32(Path.Combine(Images, "preprocess_golden.safetensors"), $"{file}@{size}", out var shape);
        var config = ImageProcessorConfig.Load(Path.Combine(Images, "preprocessor_896")) with { Height = size, Width = size, Backend = backend };
        var ours = new ImagePreprocessor(config).Preprocess(ImageLoader.Load(Path.Combine(Images, file)));
        Assert.Equal(3 * size * size, ours.Length);

        var step = size == 896 ? 8 : 1;
        int gh = (int)shape[2], gw = (int)shape[3];
        Assert.Equal(size / step, gh);
        double sum = 0, max = 0;
        for (var c = 0; c < 3; c++)
            for (var y = 0; y < gh; y++)
                for (var x = 0; x < gw; x++)
                {
                    var d = Math.Abs(ours[(c * size + y * step) * size + x * step] - golden[(c * gh + y) * gw + x]);
                    sum += d;
                    max = Math.Max(max, d);
                }
        var mean = sum / golden.Length;
        output.WriteLine($"{backend} {file}@{size}: mean |Δ| = {mean:G4}, max |Δ| = {max:G4} ({max * 127.5:F1} steps of 1/255)");
        return (mean, max);
    }

    /// <summary>Reads one F32 tensor from a safetensors file (header JSON, then little-endian data).</summary>
    internal static float[] ReadF32(string path, string name, out long[] shape)
    {
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, n));
        var entry = doc.RootElement.GetProperty(name);
        Assert.Equal("F32", entry.GetProperty("dtype").GetString());
        shape = entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var data = new float[(offsets[1] - offsets[0]) / 4];
        for (var i = 0; i < data.Length; i++)
            data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + n + offsets[0] + 4 * i));
        return data;
    }
}
