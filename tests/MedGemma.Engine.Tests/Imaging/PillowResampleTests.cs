using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;
using Xunit.Abstractions;

namespace MedGemma.Engine.Tests.Imaging;

/// <summary>
/// Bit-exactness against Pillow's own Image.resize (Data/pillow_resize_cases.json, written by
/// tools/imaging/pillow_resize_cases.py), through the public preprocessor with rescale and normalise off.
/// </summary>
public class PillowResampleTests(ITestOutputHelper output)
{
    /// <summary>Same formula as pattern() in tools/imaging/pillow_resize_cases.py.</summary>
    static RgbImage Pattern(int w, int h)
    {
        var px = new byte[w * h * 3];
        for (long y = 0; y < h; y++)
            for (long x = 0; x < w; x++)
                for (var c = 0; c < 3; c++)
                    px[(y * w + x) * 3 + c] = (byte)((((x * 7 + y * 13 + c * 101) ^ (x * y + c * 17)) + x * 255 / Math.Max(1, w - 1) * c) & 255);
        return new RgbImage(w, h, px, $"pattern {w}x{h}");
    }

    static byte[] Resize(RgbImage img, int ow, int oh, PillowFilter f)
    {
        var cfg = new ImageProcessorConfig { Width = ow, Height = oh, Resample = f, DoRescale = false, DoNormalize = false, Backend = ImageProcessorBackend.Pillow };
        var chw = new ImagePreprocessor(cfg).Preprocess(img);
        var plane = ow * oh;
        var rgb = new byte[3 * plane];
        for (var i = 0; i < plane; i++)
            for (var c = 0; c < 3; c++)
                rgb[3 * i + c] = checked((byte)chw[c * plane + i]);
        return rgb;
    }

    public static TheoryData<int> CaseIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Cases().GetArrayLength(); i++) data.Add(i);
        return data;
    }

    static JsonElement Cases()
    {
        var path = Path.Combine(Fixtures.RepoRoot, "tests", "MedGemma.Engine.Tests", "Imaging", "Data", "pillow_resize_cases.json");
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("cases");
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void Resize_is_bit_exact_with_pillow(int index)
    {
        var c = Cases()[index];
        int w = c.GetProperty("w").GetInt32(), h = c.GetProperty("h").GetInt32();
        int ow = c.GetProperty("out_w").GetInt32(), oh = c.GetProperty("out_h").GetInt32();
        var filter = (PillowFilter)c.GetProperty("filter").GetInt32();
        var sw = Stopwatch.StartNew();
        var ours = Resize(Pattern(w, h), ow, oh, filter);
        output.WriteLine($"{w}x{h} -> {ow}x{oh} {filter}: {sw.ElapsedMilliseconds} ms (incl. pattern)");
        if (c.TryGetProperty("rgb_base64", out var b64))
        {
            var expected = Convert.FromBase64String(b64.GetString()!);
            var firstDiff = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != ours[i], -1);
            Assert.True(firstDiff < 0, firstDiff < 0 ? "" : $"byte {firstDiff}: ours {ours[firstDiff]}, Pillow {expected[firstDiff]}");
        }
        Assert.Equal(c.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(ours)));
    }

    [Fact]
    public void Same_size_is_a_copy()
    {
        var img = Pattern(9, 7);
        Assert.Equal(img.Pixels, Resize(img, 9, 7, PillowFilter.Bilinear));
    }
}
