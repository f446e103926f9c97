namespace MedGemma.Engine.Training;

public enum LrScheduler { Constant, Linear, Cosine }

/// <summary>
/// transformers' get_constant_schedule_with_warmup / get_linear_schedule_with_warmup /
/// get_cosine_schedule_with_warmup (num_cycles 0.5): the factor on the base learning rate for the
/// optimizer step numbered <c>step</c> from 0, as LambdaLR applies it (so step 0 of a warm-up gets 0).
/// </summary>
public sealed record LrSchedule(LrScheduler Kind, int WarmupSteps, int TotalSteps)
{
    /// <summary>transformers' TrainingArguments.get_warmup_steps: ceil(total * ratio).</summary>
    public static int WarmupFromRatio(double ratio, int totalSteps) => (int)Math.Ceiling(totalSteps * ratio);

    public double Factor(int step)
    {
        if (step < WarmupSteps) return (double)step / Math.Max(1, WarmupSteps);
        switch (Kind)
        {
            case LrScheduler.Constant:
                return 1.0;
            case LrScheduler.Linear:
                return Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps));
            case LrScheduler.Cosine:
                var progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * 0.5 * 2.0 * progress)));
            default:
                throw new ArgumentOutOfRangeException(nameof(Kind));
        }
    }
}
