namespace MedGemma.Engine.Tokenization;

/// <summary>
/// Prompts of different lengths in one LEFT-padded batch (the model generates from the last
/// column, so padding goes first): pad id, token type 0 and attention 0 on padding. Arrays are
/// row-major [BatchSize, SequenceLength].
/// </summary>
public sealed class PromptBatch
{
    /// <summary>The label value the loss ignores (PyTorch's cross-entropy ignore_index).</summary>
    public const long IgnoreIndex = -100;

    public required int BatchSize { get; init; }
    public required int SequenceLength { get; init; }
    public required long[] InputIds { get; init; }
    public required long[] TokenTypeIds { get; init; }
    public required long[] AttentionMask { get; init; }
    /// <summary>Training labels (-100 on padding and prompt), or null when any prompt has no answer.</summary>
    public long[]? Labels { get; init; }
    /// <summary>Padding columns at the start of each row.</summary>
    public required int[] PadLengths { get; init; }

    public static PromptBatch LeftPad(IReadOnlyList<ChatPrompt> prompts, long padId)
    {
        if (prompts.Count == 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "EmptyBatch", "A batch needs at least one prompt.");
        var length = prompts.Max(p => p.Length);
        var b = prompts.Count;
        var ids = new long[b * length];
        var types = new long[b * length];
        var mask = new long[b * length];
        var training = prompts.All(p => p.AnswerStart >= 0);
        var labels = training ? new long[b * length] : null;
        var pads = new int[b];
        for (var r = 0; r < b; r++)
        {
            var p = prompts[r];
            var pad = pads[r] = length - p.Length;
            var row = r * length;
            Array.Fill(ids, padId, row, pad);
            if (labels != null) Array.Fill(labels, IgnoreIndex, row, pad);
            Array.Copy(p.InputIds, 0, ids, row + pad, p.Length);
            Array.Copy(p.TokenTypeIds, 0, types, row + pad, p.Length);
            Array.Copy(p.AttentionMask, 0, mask, row + pad, p.Length);
            if (labels != null) Array.Copy(p.Labels(), 0, labels, row + pad, p.Length);
        }
        return new PromptBatch { BatchSize = b, SequenceLength = length, InputIds = ids, TokenTypeIds = types, AttentionMask = mask, Labels = labels, PadLengths = pads };
    }

    /// <summary>Row <paramref name="r"/> of a [BatchSize, SequenceLength] array.</summary>
    public static ReadOnlySpan<long> Row(long[] data, int sequenceLength, int r) => data.AsSpan(r * sequenceLength, sequenceLength);
}
