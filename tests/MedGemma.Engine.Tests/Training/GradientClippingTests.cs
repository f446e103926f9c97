using MedGemma.Engine.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Training;

public class GradientClippingTests
{
    static Parameter WithGrad(float[] grad)
    {
        var p = new Parameter(zeros(grad.Length));
        p.grad = tensor(grad);
        return p;
    }

    [Fact]
    public void ScalesEveryGradientByMaxOverTotalNormAboveTheLimitAndLeavesThemBelowIt()
    {
        // Total L2 norm of (3, 4) and (12) is 13.
        var a = WithGrad(new[] { 3f, 4f });
        var b = WithGrad(new[] { 12f });
        Assert.Equal(13.0, GradientClipping.ClipGradNorm(new[] { a, b }, 6.5), 5);
        var scale = 6.5 / (13.0 + 1e-6);
        Assert.Equal(new[] { 3 * scale, 4 * scale }, a.grad!.data<float>().ToArray().Select(x => (double)x), new Tolerance(1e-6));
        Assert.Equal(12 * scale, b.grad!.data<float>()[0], 5);

        var c = WithGrad(new[] { 3f, 4f });
        Assert.Equal(5.0, GradientClipping.ClipGradNorm(new[] { c }, 100), 5);
        Assert.Equal(new[] { 3f, 4f }, c.grad!.data<float>().ToArray());
    }

    sealed class Tolerance(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= eps;
        public int GetHashCode(double obj) => 0;
    }
}
