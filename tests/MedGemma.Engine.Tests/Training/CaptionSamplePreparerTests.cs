using MedGemma.Engine.Imaging;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Tokenization;
using MedGemma.Engine.Training;

namespace MedGemma.Engine.Tests.Training;

public class CaptionSamplePreparerTests
{
    static readonly string Snapshot = TokenizerAssets.SnapshotFolderWithTokenizer();
    static readonly PromptBuilder Prompts = PromptBuilder.FromModelFolder(Snapshot);
    static readonly CaptionSample Sample = new(Path.Combine(Fixtures.Root, "images", "img_gray_300x240.png"), "Normal chest radiograph.", 0);

    static PreparedSample Prepare(LossOn lossOn) =>
        new CaptionSamplePreparer(Prompts, ImagePreprocessor.FromModelFolder(Snapshot), new PromptOptions(), lossOn).Prepare(Sample);

    [Fact]
    public void AnswerLossLearnsTheCaptionAndEndOfTurnOnly()
    {
        var s = Prepare(LossOn.Answer);
        var learned = s.Labels.Where(l => l != -100).ToArray();
        var caption = Prompts.Tokenizer.Encode("Normal chest radiograph.").Select(i => (long)i);
        Assert.Equal(caption.Append(Prompts.Tokenizer.EndOfTurnId), learned);
        Assert.Equal(s.InputIds.Length, s.Labels.Length);
        Assert.Equal(3 * 896 * 896, s.PixelValues.Length);
        Assert.Equal(256, s.TokenTypeIds.Count(t => t == 1));
    }

    [Fact]
    public void AllLossMasksOnlyTheImage()
    {
        var s = Prepare(LossOn.All);
        var tok = Prompts.Tokenizer;
        for (int i = 0; i < s.InputIds.Length; i++)
        {
            var isImage = s.TokenTypeIds[i] == 1 || s.InputIds[i] == tok.BeginOfImageId;
            Assert.Equal(isImage ? -100 : s.InputIds[i], s.Labels[i]);
        }
    }
}
