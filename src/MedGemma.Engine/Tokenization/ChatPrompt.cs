namespace MedGemma.Engine.Tokenization;

/// <summary>
/// One tokenized MedGemma prompt as the model takes it: ids, token types (1 on image soft tokens,
/// which attend to each other bidirectionally) and the attention mask, as plain arrays.
/// </summary>
public sealed class ChatPrompt
{
    /// <summary>The chat text as Gemma's chat template renders it (images still as one &lt;start_of_image&gt;).</summary>
    public required string ChatText { get; init; }
    public required long[] InputIds { get; init; }
    public required long[] TokenTypeIds { get; init; }
    public required long[] AttentionMask { get; init; }

    /// <summary>Index of the first answer token in a training prompt (the target caption then &lt;end_of_turn&gt;); -1 for a generation prompt.</summary>
    public int AnswerStart { get; init; } = -1;

    public int Length => InputIds.Length;

    /// <summary>Training labels: the ids from <see cref="AnswerStart"/> on, -100 (ignored by the loss) on the prompt.</summary>
    public long[] Labels()
    {
        if (AnswerStart < 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "NotATrainingPrompt", "This prompt has no answer to train on; build it with a target caption.");
        var labels = new long[InputIds.Length];
        for (var i = 0; i < labels.Length; i++) labels[i] = i < AnswerStart ? PromptBatch.IgnoreIndex : InputIds[i];
        return labels;
    }
}
