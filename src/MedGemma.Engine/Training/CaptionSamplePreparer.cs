using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tokenization;

namespace MedGemma.Engine.Training;

/// <summary>
/// Turns a manifest entry into a <see cref="PreparedSample"/>: the MedGemma chat prompt with the image,
/// then the caption and &lt;end_of_turn&gt;. With <see cref="LossOn.Answer"/> only the caption and
/// &lt;end_of_turn&gt; are learned; with <see cref="LossOn.All"/> everything but image tokens (as Google's
/// fine-tuning notebook masks them: &lt;start_of_image&gt; and the soft image tokens).
/// </summary>
public sealed class CaptionSamplePreparer
{
    readonly PromptBuilder prompts;
    readonly ImagePreprocessor images;
    readonly PromptOptions promptOptions;
    readonly LossOn lossOn;
    readonly ImageLoadOptions? imageOptions;

    public CaptionSamplePreparer(PromptBuilder prompts, ImagePreprocessor images, PromptOptions promptOptions, LossOn lossOn, ImageLoadOptions? imageOptions = null)
    {
        this.imageOptions = imageOptions;
        this.prompts = prompts;
        this.images = images;
        this.promptOptions = promptOptions;
        this.lossOn = lossOn;
    }

    public PreparedSample Prepare(CaptionSample sample)
    {
        var prompt = prompts.BuildTraining(promptOptions, sample.Caption);
        var labels = lossOn == LossOn.Answer ? prompt.Labels() : AllButImage(prompt);
        var pixels = images.Preprocess(ImageLoader.Load(sample.ImagePath, imageOptions));
        return new PreparedSample(prompt.InputIds, prompt.TokenTypeIds, labels, pixels);
    }

    long[] AllButImage(ChatPrompt prompt)
    {
        var labels = (long[])prompt.InputIds.Clone();
        var boi = prompts.Tokenizer.BeginOfImageId;
        for (int i = 0; i < labels.Length; i++)
            if (prompt.TokenTypeIds[i] != 0 || labels[i] == boi || prompt.AttentionMask[i] == 0) labels[i] = Gemma3TrainingTask.IgnoreIndex;
        return labels;
    }
}
