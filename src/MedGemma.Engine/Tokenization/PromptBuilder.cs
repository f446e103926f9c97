using System.Text;
using System.Text.Json;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// Builds MedGemma's chat prompt exactly as Gemma3Processor.apply_chat_template(add_generation_prompt=True,
/// tokenize=True) does: one &lt;bos&gt;, the system prompt folded into the first user turn, the
/// instruction (trimmed, as the template's <c>| trim</c>) then the image, each image expanded to
/// "\n\n&lt;start_of_image&gt;" + image_seq_length × &lt;image_soft_token&gt; + "&lt;end_of_image&gt;\n\n",
/// and the generation prompt "&lt;start_of_turn&gt;model\n".
/// </summary>
public sealed class PromptBuilder
{
    public GemmaTokenizer Tokenizer { get; }
    /// <summary>Image soft tokens per image (MedGemma: 256).</summary>
    public int ImageSeqLength { get; }

    readonly string imageBlock;

    public PromptBuilder(GemmaTokenizer tokenizer, int imageSeqLength)
    {
        if (imageSeqLength <= 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImageSeqLength", $"image_seq_length must be positive, not {imageSeqLength}.", imageSeqLength);
        Tokenizer = tokenizer;
        ImageSeqLength = imageSeqLength;
        var s = tokenizer.Special;
        var sb = new StringBuilder("\n\n").Append(s.BeginOfImage);
        for (var i = 0; i < imageSeqLength; i++) sb.Append(s.ImageToken);
        imageBlock = sb.Append(s.EndOfImage).Append("\n\n").ToString();
    }

    /// <summary>Tokenizer and image_seq_length of a model folder.</summary>
    public static PromptBuilder FromModelFolder(string folder) => new(GemmaTokenizer.FromModelFolder(folder), ReadImageSeqLength(folder));

    /// <summary>
    /// image_seq_length from processor_config.json, else preprocessor_config.json, else config.json's
    /// mm_tokens_per_image — where transformers' Gemma3Processor finds it.
    /// </summary>
    public static int ReadImageSeqLength(string folder)
    {
        foreach (var (file, key) in new[] { ("processor_config.json", "image_seq_length"), ("preprocessor_config.json", "image_seq_length"), ("config.json", "mm_tokens_per_image") })
        {
            var path = Path.Combine(folder, file);
            if (!File.Exists(path)) continue;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number) return v.GetInt32();
            }
            catch (JsonException e)
            {
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidModelConfig", $"{path} is not valid JSON: {e.Message}", path, e);
            }
        }
        throw new MedGemmaException(MedGemmaErrorKind.NotFound, "MissingImageSeqLength",
            $"{folder}: no image_seq_length in processor_config.json or preprocessor_config.json and no mm_tokens_per_image in config.json", folder);
    }

    /// <summary>The chat template's text for one user turn (+ the answer for training), images as one &lt;start_of_image&gt; each.</summary>
    public string ChatText(PromptOptions options, string? answer = null) => Render(options, answer, expandImages: false);

    /// <summary>A generation prompt: ids end with "&lt;start_of_turn&gt;model\n".</summary>
    public ChatPrompt Build(PromptOptions options) => Tokenize(options, null);

    /// <summary>
    /// A training example: the generation prompt, then <paramref name="targetCaption"/> (trimmed) and
    /// &lt;end_of_turn&gt;. <see cref="ChatPrompt.AnswerStart"/> is where the caption starts.
    /// </summary>
    public ChatPrompt BuildTraining(PromptOptions options, string targetCaption)
    {
        if (string.IsNullOrWhiteSpace(targetCaption))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "EmptyCaption", "The target caption is empty.", targetCaption);
        return Tokenize(options, targetCaption);
    }

    /// <summary>Left-pads prompts into one batch with the tokenizer's pad id.</summary>
    public PromptBatch Batch(IReadOnlyList<ChatPrompt> prompts) => PromptBatch.LeftPad(prompts, Tokenizer.PadId);

    ChatPrompt Tokenize(PromptOptions options, string? answer)
    {
        var promptText = Render(options, null, expandImages: true);
        var ids = new List<int>(promptText.Length / 4 + ImageSeqLength * options.ImageCount + 16);
        ids.Add(Tokenizer.BosId);
        Tokenizer.EncodeTo(promptText.AsSpan(Tokenizer.Special.Bos.Length), ids);
        var answerStart = -1;
        if (answer != null)
        {
            // The prompt ends with "\n", an added token, so encoding the answer on its own gives the
            // same ids as encoding the whole conversation.
            answerStart = ids.Count;
            Tokenizer.EncodeTo(PyText.Strip(answer).AsSpan(), ids);
            ids.Add(Tokenizer.EndOfTurnId);
        }
        var inputIds = new long[ids.Count];
        var types = new long[ids.Count];
        var mask = new long[ids.Count];
        for (var i = 0; i < ids.Count; i++)
        {
            inputIds[i] = ids[i];
            types[i] = ids[i] == Tokenizer.ImageTokenId ? 1 : 0;
            mask[i] = 1;
        }
        return new ChatPrompt { ChatText = Render(options, answer, expandImages: false), InputIds = inputIds, TokenTypeIds = types, AttentionMask = mask, AnswerStart = answerStart };
    }

    string Render(PromptOptions options, string? answer, bool expandImages)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ImageCount < 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidImageCount", $"ImageCount must be 0 or more, not {options.ImageCount}.", options.ImageCount);
        var s = Tokenizer.Special;
        var instruction = ReportLanguage.Apply(options.Instruction ?? PromptOptions.DefaultInstruction, options.Language);
        var sb = new StringBuilder(s.Bos).Append(s.StartOfTurn).Append("user\n");
        // The template adds the system text untrimmed, then a blank line; user text is trimmed.
        if (options.SystemPrompt != null) sb.Append(options.SystemPrompt).Append("\n\n");
        sb.Append(PyText.Strip(instruction));
        for (var i = 0; i < options.ImageCount; i++) sb.Append(expandImages ? imageBlock : s.BeginOfImage);
        sb.Append(s.EndOfTurn).Append('\n').Append(s.StartOfTurn).Append("model\n");
        if (answer != null) sb.Append(PyText.Strip(answer)).Append(s.EndOfTurn);
        return sb.ToString();
    }
}
