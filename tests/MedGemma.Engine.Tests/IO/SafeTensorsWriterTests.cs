using System.Buffers.Binary;
using System.Text.Json;
using MedGemma.Engine.IO;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

public class SafeTensorsWriterTests
{
    [Fact]
    public void RoundTripsF32Bf16F16ExactlyWithPtMetadata()
    {
        using var tmp = new TempDir();
        var path = tmp.File("t.safetensors");
        manual_seed(7);
        var tensors = new Dictionary<string, Tensor>
        {
            ["a.f32"] = randn(3, 5),
            ["b.bf16"] = randn(7).to(ScalarType.BFloat16),
            ["c.f16"] = randn(2, 2, 3).to(ScalarType.Float16),
            ["d.empty"] = zeros(0, 4),
            ["e.transposed"] = randn(4, 6).t(),
        };
        SafeTensorsWriter.Write(path, tensors, metadata: new Dictionary<string, string> { ["note"] = "x" });

        var bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8);
        using (var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n)))
        {
            var meta = doc.RootElement.GetProperty("__metadata__");
            Assert.Equal("pt", meta.GetProperty("format").GetString());
            Assert.Equal("x", meta.GetProperty("note").GetString());
            Assert.Equal("BF16", doc.RootElement.GetProperty("b.bf16").GetProperty("dtype").GetString());
            Assert.Equal("F16", doc.RootElement.GetProperty("c.f16").GetProperty("dtype").GetString());
        }
        var raw = RawSafeTensors.ReadAll(path).ToDictionary(r => r.Name);
        Assert.Equal(tensors["a.f32"].data<float>().ToArray(), RawSafeTensors.F32(raw["a.f32"].Bytes));
        Assert.Equal(tensors["b.bf16"].to(ScalarType.Float32).data<float>().ToArray(), RawSafeTensors.Bf16ToFloat(raw["b.bf16"].Bytes));
        using var f = SafeTensorsFile.Open(path);
        foreach (var (name, t) in tensors)
        {
            using var back = f.Read(name);
            Assert.Equal(t.dtype, back.dtype);
            Assert.True(t.Equals(back), name);
        }
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp"));
    }

    [Fact]
    public void ConvertsFloatTensorsToTheRequestedDType()
    {
        using var tmp = new TempDir();
        var path = tmp.File("bf16.safetensors");
        using var a = randn(16);
        using var ids = arange(5);
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a, ["ids"] = ids }, ScalarType.BFloat16);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal("BF16", f.Entry("a").DType);
        Assert.Equal("I64", f.Entry("ids").DType);
        using var back = f.Read("a");
        Assert.True(a.to(ScalarType.BFloat16).Equals(back));
    }

    [Fact]
    public void ACancelledWriteLeavesTheOldFileAndNoTemporary()
    {
        using var tmp = new TempDir();
        var path = tmp.File("adapter.safetensors");
        using var a = ones(4);
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a });
        var before = File.ReadAllBytes(path);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        using var b = zeros(8);
        var ex = Assert.Throws<MedGemmaException>(() => SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["b"] = b }, ct: cts.Token));
        Assert.Equal(MedGemmaErrorKind.Cancelled, ex.Kind);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void ReservedNameIsRejected()
    {
        using var tmp = new TempDir();
        using var a = ones(1);
        var ex = Assert.Throws<MedGemmaException>(() => SafeTensorsWriter.Write(tmp.File("x.safetensors"), new Dictionary<string, Tensor> { ["__metadata__"] = a }));
        Assert.Equal(MedGemmaErrorKind.InvalidArgument, ex.Kind);
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }
}
