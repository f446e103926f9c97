using MedGemma.Engine.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

public class StagingBuffersTests
{
    [Fact]
    public void BuffersHoldOneChunkOrTheLargestTensorWhicheverIsSmaller()
    {
        using var big = new StagingBuffers(new[] { (ScalarType.BFloat16, 1000L), (ScalarType.BFloat16, 5_000_000L), (ScalarType.Float32, 3L) }, 1 << 20, pin: false);
        Assert.Equal((1 << 20) / 2, big.ChunkElements(ScalarType.BFloat16));
        Assert.Equal(3, big.ChunkElements(ScalarType.Float32));
        Assert.Throws<ArgumentOutOfRangeException>(() => big.View(0, ScalarType.Float32, 4));
    }

    [Fact]
    public void TheTwoSlotsAreSeparateMemoryAndPinningFallsBackWhereItIsUnavailable()
    {
        // pin: true on a CPU-only libtorch must still give working (pageable) buffers.
        using var staging = new StagingBuffers(new[] { (ScalarType.Float32, 8L) }, 1 << 20, pin: true);
        using var a = staging.View(0, ScalarType.Float32, 8);
        using var b = staging.View(1, ScalarType.Float32, 8);
        a.fill_(1);
        b.fill_(2);
        Assert.Equal(8f, a.sum().item<float>());
        Assert.Equal(DeviceType.CPU, a.device_type);
        Assert.Equal(staging.Pinned, a.is_pinned());
    }

    [Fact]
    public void DefaultChunkIsASixteenthOfTheLargestFileWithinOneAndSixtyFourMiB()
    {
        using var dir = new TempDir();
        var small = dir.File("small.bin");
        File.WriteAllBytes(small, new byte[1000]);
        Assert.Equal(1L << 20, CheckpointLoader.DefaultChunkBytes(new[] { small }));
        var sparse = dir.File("big.bin");
        using (var f = File.Create(sparse)) f.SetLength(32L << 20);
        Assert.Equal(2L << 20, CheckpointLoader.DefaultChunkBytes(new[] { small, sparse }));
    }
}
