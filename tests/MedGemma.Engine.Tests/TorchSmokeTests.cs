using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests;

public class TorchSmokeTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        var a = torch.ones(2, 3);
        var b = a.sum();
        Assert.Equal(6f, b.item<float>());
    }
}
