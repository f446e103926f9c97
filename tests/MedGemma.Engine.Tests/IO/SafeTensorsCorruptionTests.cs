using System.Text;
using MedGemma.Engine.IO;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

public class SafeTensorsCorruptionTests
{
    static readonly string GoodHeader = """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}}""";

    static MedGemmaException Fails(TempDir tmp, string header, int dataBytes = 22, byte[]? prefix = null)
    {
        var path = tmp.File(Guid.NewGuid().ToString("N") + ".safetensors");
        RawSafeTensors.WriteRaw(path, header, new byte[dataBytes]);
        if (prefix is not null)
        {
            var all = File.ReadAllBytes(path);
            prefix.CopyTo(all, 0);
            File.WriteAllBytes(path, all);
        }
        var ex = Assert.Throws<MedGemmaException>(() => { using var f = SafeTensorsFile.Open(path); });
        Assert.StartsWith(path, (string)ex.Target!);
        return ex;
    }

    [Fact]
    public void TheGoodHeaderOpens()
    {
        using var tmp = new TempDir();
        var path = tmp.File("good.safetensors");
        RawSafeTensors.WriteRaw(path, GoodHeader, new byte[22]);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new[] { "a", "b" }, f.Names);
    }

    [Theory]
    [InlineData("\"data_offsets\":[16,22]", "\"data_offsets\":[16,2200]", "SafeTensorsBadOffsets")]      // size ≠ shape × dtype
    [InlineData("\"shape\":[3],\"data_offsets\":[16,22]", "\"shape\":[3],\"data_offsets\":[10,16]", "SafeTensorsBadOffsets")] // overlap
    [InlineData("\"shape\":[3],\"data_offsets\":[16,22]", "\"shape\":[3],\"data_offsets\":[18,24]", "SafeTensorsBadOffsets")] // gap
    [InlineData("\"dtype\":\"BF16\"", "\"dtype\":\"Q4_K\"", "SafeTensorsUnknownDType")]
    [InlineData("\"dtype\":\"BF16\"", "\"dtype\":7", "SafeTensorsBadHeader")]
    [InlineData("\"shape\":[3]", "\"shape\":[-3]", "SafeTensorsBadHeader")]
    [InlineData("\"shape\":[2,2]", "\"shape\":[4611686018427387904,4]", "SafeTensorsBadHeader")]
    [InlineData("\"data_offsets\":[0,16]", "\"data_offsets\":[0]", "SafeTensorsBadHeader")]
    [InlineData("}}", "}", "SafeTensorsBadHeader")]
    [InlineData("\"a\":", "\"b\":", "SafeTensorsBadHeader")]
    public void CorruptHeadersNameTheProblem(string from, string to, string errorId)
    {
        using var tmp = new TempDir();
        var header = GoodHeader.Replace(from, to);
        Assert.NotEqual(GoodHeader, header);
        var ex = Fails(tmp, header);
        Assert.Equal(errorId, ex.ErrorId);
    }

    [Fact]
    public void HeaderPointingOutsideTheFileAndTruncationAreDetected()
    {
        using var tmp = new TempDir();
        Assert.Equal("SafeTensorsTruncated", Fails(tmp, GoodHeader, dataBytes: 21).ErrorId);
        Assert.Equal("SafeTensorsBadOffsets", Fails(tmp, GoodHeader, dataBytes: 30).ErrorId);
        var huge = new byte[8];
        BitConverter.TryWriteBytes(huge, ulong.MaxValue);
        Assert.Equal("SafeTensorsBadHeaderLength", Fails(tmp, GoodHeader, prefix: huge).ErrorId);
        BitConverter.TryWriteBytes(huge, 50_000_000UL);
        Assert.Equal("SafeTensorsTruncated", Fails(tmp, GoodHeader, prefix: huge).ErrorId);
        var path = tmp.File("short.safetensors");
        File.WriteAllBytes(path, new byte[5]);
        Assert.Equal("SafeTensorsTruncated", Assert.Throws<MedGemmaException>(() => SafeTensorsFile.Open(path)).ErrorId);
    }

    /// <summary>Seeded, bounded fuzzing: every corruption must end in a MedGemmaException or a clean read, never a crash or hang.</summary>
    [Fact]
    public void RandomCorruptionsFailCleanly()
    {
        using var tmp = new TempDir();
        var source = tmp.File("source.safetensors");
        manual_seed(3);
        SafeTensorsWriter.Write(source, new Dictionary<string, Tensor>
        {
            ["model.language_model.embed_tokens.weight"] = randn(6, 4).to(ScalarType.BFloat16),
            ["model.vision_tower.post_layernorm.bias"] = randn(5),
            ["model.multi_modal_projector.mm_soft_emb_norm.weight"] = randn(3).to(ScalarType.Float16),
        });
        var good = File.ReadAllBytes(source);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(good, 0);
        using var model = ParamTree.Build(new[]
        {
            ("model.language_model.embed_tokens.weight", new long[] { 6, 4 }),
            ("model.vision_tower.post_layernorm.bias", new long[] { 5 }),
            ("model.multi_modal_projector.mm_soft_emb_norm.weight", new long[] { 3 }),
        }, ScalarType.Float32);

        var rng = new Random(int.TryParse(Environment.GetEnvironmentVariable("MEDGEMMA_FUZZ_SEED"), out int seed) ? seed : 20261128);
        int cases = 0, rejected = 0;
        var path = tmp.File("fuzz.safetensors");
        // A fixed count (not a time budget) so the test does the same work on a loaded CI machine.
        while (cases < 300)
        {
            var bytes = Mutate(good, headerEnd, rng);
            File.WriteAllBytes(path, bytes);
            // Its own thread (LongRunning), and a bound that only a hang reaches: on the thread pool a case also
            // waits for a free thread while other test classes keep both CPUs busy.
            var run = Task.Factory.StartNew(() =>
            {
                try
                {
                    using (var f = SafeTensorsFile.Open(path))
                        foreach (var name in f.Names) f.Read(name, CPU, ScalarType.Float32).Dispose();
                    CheckpointLoader.Load(model, path, CPU, ScalarType.Float32);
                    return (Exception?)null;
                }
                catch (Exception e) { return e; }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.True(run.Wait(TimeSpan.FromSeconds(60)), $"case {cases} hung");
            if (run.Result is { } e)
            {
                Assert.True(e is MedGemmaException, $"case {cases}: {e.GetType().Name}: {e.Message}");
                rejected++;
            }
            cases++;
        }
        Assert.True(rejected > cases / 2, $"{rejected} of {cases} rejected");
    }

    static byte[] Mutate(byte[] good, int headerEnd, Random rng)
    {
        var b = (byte[])good.Clone();
        switch (rng.Next(6))
        {
            case 0: return b[..rng.Next(b.Length)];                                  // truncation
            case 1:                                                                   // flipped header bytes
                for (int i = rng.Next(1, 4); i > 0; i--) b[8 + rng.Next(headerEnd - 8)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 2:                                                                   // header length
                BitConverter.TryWriteBytes(b.AsSpan(0, 8), rng.Next(3) == 0 ? (ulong)rng.NextInt64() : (ulong)(headerEnd - 8 + rng.Next(-16, 17)));
                return b;
            case 3:                                                                   // a number in the header
            {
                var header = Encoding.UTF8.GetString(b, 8, headerEnd - 8);
                var digits = Enumerable.Range(0, header.Length).Where(i => char.IsDigit(header[i])).ToList();
                int at = digits[rng.Next(digits.Count)];
                string replacement = rng.Next(4) switch { 0 => "-1", 1 => "99999999999", 2 => "1e3", _ => rng.Next(64).ToString() };
                return Rebuild(header[..at] + replacement + header[(at + 1)..], b, headerEnd);
            }
            case 4:                                                                   // a dtype
            {
                var header = Encoding.UTF8.GetString(b, 8, headerEnd - 8);
                var codes = new[] { "F32", "BF16", "F16", "F64", "I8", "U8", "BOOL", "F8_E4M3", "", "XX" };
                return Rebuild(header.Replace("\"BF16\"", $"\"{codes[rng.Next(codes.Length)]}\""), b, headerEnd);
            }
            default:                                                                  // a deleted header character
            {
                var header = Encoding.UTF8.GetString(b, 8, headerEnd - 8);
                int at = rng.Next(header.Length);
                return Rebuild(header.Remove(at, 1), b, headerEnd);
            }
        }
    }

    static byte[] Rebuild(string header, byte[] original, int headerEnd)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + h.Length + original.Length - headerEnd];
        BitConverter.TryWriteBytes(result.AsSpan(0, 8), (ulong)h.Length);
        h.CopyTo(result, 8);
        original.AsSpan(headerEnd).CopyTo(result.AsSpan(8 + h.Length));
        return result;
    }
}
