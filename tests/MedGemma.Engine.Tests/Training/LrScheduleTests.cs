using MedGemma.Engine.Training;

namespace MedGemma.Engine.Tests.Training;

public class LrScheduleTests
{
    // Expected values worked out by hand from transformers' lr_lambda definitions.
    [Fact]
    public void LinearWithWarmup()
    {
        var s = new LrSchedule(LrScheduler.Linear, 2, 10);
        Assert.Equal(new[] { 0, 0.5, 1, 7 / 8.0, 6 / 8.0, 5 / 8.0, 4 / 8.0, 3 / 8.0, 2 / 8.0, 1 / 8.0, 0 },
            Enumerable.Range(0, 11).Select(s.Factor), new ToleranceComparer(1e-12));
    }

    [Fact]
    public void CosineWithWarmup()
    {
        var s = new LrSchedule(LrScheduler.Cosine, 1, 5);
        // progress (k-1)/4: 0, .25, .5, .75 → 0.5(1+cos(pi p))
        Assert.Equal(new[] { 0, 1, 0.5 * (1 + Math.Sqrt(0.5)), 0.5, 0.5 * (1 - Math.Sqrt(0.5)), 0 },
            Enumerable.Range(0, 6).Select(s.Factor), new ToleranceComparer(1e-12));
    }

    [Fact]
    public void ConstantWithWarmupAndWarmupFromRatio()
    {
        var s = new LrSchedule(LrScheduler.Constant, 4, 100);
        Assert.Equal(new[] { 0, 0.25, 0.5, 0.75, 1, 1 }, Enumerable.Range(0, 6).Select(s.Factor), new ToleranceComparer(1e-12));
        Assert.Equal(1.0, new LrSchedule(LrScheduler.Constant, 0, 10).Factor(0));
        Assert.Equal(3, LrSchedule.WarmupFromRatio(0.03, 100));
        Assert.Equal(1, LrSchedule.WarmupFromRatio(0.1, 7));
        Assert.Equal(0, LrSchedule.WarmupFromRatio(0, 7));
    }

    sealed class ToleranceComparer(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(double obj) => 0;
    }
}
