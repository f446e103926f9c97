using System.Text.Json;
using MedGemma.Engine.IO;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Tokenization;

namespace MedGemma.Engine.Tests.Tokenization;

/// <summary>The chat prompt against Gemma3Processor.apply_chat_template (processor_golden.json and tiny-medgemma-e2e/golden.*).</summary>
[Trait("Category", "Tokenizer")]
public class PromptBuilderTests
{
    static readonly Lazy<PromptBuilder> Snapshot = new(() =>
        new PromptBuilder(SharedTokenizer.Snapshot, PromptBuilder.ReadImageSeqLength(TokenizerAssets.SnapshotFolderWithTokenizer())));

    static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    static long[] Tensor(SafeTensorsFile f, string name)
    {
        using var t = f.Read(name);
        return t.data<long>().ToArray();
    }

    [Fact]
    public void ProcessorGoldenPromptIsExact()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Root, "tokenizer", "processor_golden.json")));
        var g = doc.RootElement;
        var p = Snapshot.Value.Build(new PromptOptions { SystemPrompt = "You are an expert radiologist.", Instruction = "Describe this X-ray" });
        Assert.Equal(g.GetProperty("chat_text").GetString(), p.ChatText);
        Assert.Equal(Longs(g.GetProperty("input_ids")), p.InputIds);
        Assert.Equal(Longs(g.GetProperty("token_type_ids")), p.TokenTypeIds);
        Assert.All(p.AttentionMask, m => Assert.Equal(1L, m));
        Assert.Equal(-1, p.AnswerStart);
    }

    static (PromptOptions Options, JsonElement Case)[] E2ECases(JsonDocument doc) =>
        doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => (new PromptOptions
        {
            Instruction = c.GetProperty("prompt").GetString()!,
            SystemPrompt = c.GetProperty("system").ValueKind == JsonValueKind.String ? c.GetProperty("system").GetString() : null,
        }, c)).ToArray();

    [Fact]
    public void EndToEndGoldenCasesAreExact()
    {
        var folder = Fixtures.Folder("tiny-medgemma-e2e");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "golden.json")));
        using var golden = SafeTensorsFile.Open(Path.Combine(folder, "golden.safetensors"));
        var cases = E2ECases(doc);
        Assert.Equal(2, cases.Length);
        for (var i = 0; i < cases.Length; i++)
        {
            var p = Snapshot.Value.Build(cases[i].Options);
            Assert.Equal(cases[i].Case.GetProperty("chat_text").GetString(), p.ChatText);
            Assert.Equal(Longs(cases[i].Case.GetProperty("input_ids")), p.InputIds);
            Assert.Equal(Tensor(golden, $"case{i}.input_ids"), p.InputIds);
            Assert.Equal(Tensor(golden, $"case{i}.token_type_ids"), p.TokenTypeIds);
            Assert.Equal(Tensor(golden, $"case{i}.attention_mask"), p.AttentionMask);
        }

        var batch = Snapshot.Value.Batch(cases.Select(c => Snapshot.Value.Build(c.Options)).ToList());
        Assert.Equal(2, batch.BatchSize);
        Assert.Equal(Tensor(golden, "batch.input_ids"), batch.InputIds);
        Assert.Equal(Tensor(golden, "batch.token_type_ids"), batch.TokenTypeIds);
        Assert.Equal(Tensor(golden, "batch.attention_mask"), batch.AttentionMask);
        Assert.Null(batch.Labels);
    }

    [Fact]
    public void TrainingPromptAppendsCaptionAndEndOfTurn()
    {
        var b = Snapshot.Value;
        var tok = b.Tokenizer;
        var options = new PromptOptions { SystemPrompt = "You are an expert radiologist." };
        var prompt = b.Build(options);
        var caption = "  No acute cardiopulmonary process.\nHeart size is normal.  ";
        var train = b.BuildTraining(options, caption);

        Assert.Equal(prompt.Length, train.AnswerStart);
        Assert.Equal(prompt.InputIds, train.InputIds[..prompt.Length]);
        var answer = tok.Encode(caption.Trim()).Select(x => (long)x).Append(tok.EndOfTurnId).ToArray();
        Assert.Equal(answer, train.InputIds[prompt.Length..]);
        // Encoding the whole rendered conversation at once gives the same ids (no merge across the boundary).
        var whole = tok.Encode(train.ChatText.Replace(tok.Special.BeginOfImage, "\n\n" + tok.Special.BeginOfImage
            + string.Concat(Enumerable.Repeat(tok.Special.ImageToken, b.ImageSeqLength)) + tok.Special.EndOfImage + "\n\n"));
        Assert.Equal(whole.Select(x => (long)x), train.InputIds);
        Assert.EndsWith("<start_of_turn>model\nNo acute cardiopulmonary process.\nHeart size is normal.<end_of_turn>", train.ChatText);

        var labels = train.Labels();
        Assert.All(labels[..train.AnswerStart], l => Assert.Equal(PromptBatch.IgnoreIndex, l));
        Assert.Equal(train.InputIds[train.AnswerStart..], labels[train.AnswerStart..]);
        Assert.Equal(b.ImageSeqLength, train.TokenTypeIds.Count(t => t == 1));
        Assert.Throws<MedGemmaException>(() => prompt.Labels());
        Assert.Throws<MedGemmaException>(() => b.BuildTraining(options, "  "));
    }

    [Fact]
    public void TrainingBatchIsLeftPaddedWithIgnoredLabels()
    {
        var b = Snapshot.Value;
        var shortOne = b.BuildTraining(new PromptOptions(), "Normal.");
        var longOne = b.BuildTraining(new PromptOptions { SystemPrompt = "You are an expert radiologist." }, "Right lower lobe consolidation, likely pneumonia.");
        var batch = b.Batch([shortOne, longOne]);
        var t = batch.SequenceLength;
        Assert.Equal(longOne.Length, t);
        var pad = t - shortOne.Length;
        Assert.Equal([pad, 0], batch.PadLengths);
        var row0 = PromptBatch.Row(batch.InputIds, t, 0);
        Assert.All(row0[..pad].ToArray(), id => Assert.Equal((long)b.Tokenizer.PadId, id));
        Assert.Equal(shortOne.InputIds, row0[pad..].ToArray());
        Assert.All(PromptBatch.Row(batch.AttentionMask, t, 0)[..pad].ToArray(), m => Assert.Equal(0L, m));
        Assert.All(PromptBatch.Row(batch.AttentionMask, t, 0)[pad..].ToArray(), m => Assert.Equal(1L, m));
        var labels0 = PromptBatch.Row(batch.Labels!, t, 0);
        Assert.All(labels0[..(pad + shortOne.AnswerStart)].ToArray(), l => Assert.Equal(PromptBatch.IgnoreIndex, l));
        Assert.Equal(shortOne.InputIds[shortOne.AnswerStart..], labels0[(pad + shortOne.AnswerStart)..].ToArray());
        Assert.Equal(longOne.Labels(), PromptBatch.Row(batch.Labels!, t, 1).ToArray());
    }

    [Theory]
    [InlineData("es", "Describe this medical image. Write the report in Spanish.")]
    [InlineData("fr", "Describe this medical image. Write the report in French.")]
    [InlineData("de", "Describe this medical image. Write the report in German.")]
    [InlineData("zh", "Describe this medical image. Write the report in Chinese.")]
    [InlineData("EN", "Describe this medical image. Write the report in English.")]
    [InlineData("pt-BR", "Describe this medical image. Write the report in Portuguese.")]
    [InlineData("Catalan", "Describe this medical image. Write the report in Catalan.")]
    public void LanguageIsAskedForInTheInstruction(string language, string expected)
    {
        Assert.Equal(expected, ReportLanguage.Apply(PromptOptions.DefaultInstruction, language));
        var text = Snapshot.Value.ChatText(new PromptOptions { Language = language });
        Assert.Equal($"<bos><start_of_turn>user\n{expected}<start_of_image><end_of_turn>\n<start_of_turn>model\n", text);
    }

    [Fact]
    public void TheInstructionIsTrimmedAsJinjaTrimsButTheSystemPromptIsNot()
    {
        // Jinja's trim is Python's str.strip(): U+001C-U+001F and the no-break space are whitespace too.
        var text = Snapshot.Value.ChatText(new PromptOptions { Instruction = "\u001c\u00a0 Describe this X-ray.\n\u001f", SystemPrompt = " Be brief. " });
        Assert.Equal("<bos><start_of_turn>user\n Be brief. \n\nDescribe this X-ray.<start_of_image><end_of_turn>\n<start_of_turn>model\n", text);
    }

    [Fact]
    public void LanguageWordingEdgeCases()
    {
        Assert.Equal("Describe this X-ray. Write the report in Spanish.", ReportLanguage.Apply("Describe this X-ray", "es"));
        Assert.Equal("Describe this X-ray", ReportLanguage.Apply("Describe this X-ray", null));
        var e = Assert.Throws<MedGemmaException>(() => ReportLanguage.Apply("Describe.", "xx"));
        Assert.Equal(MedGemmaErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("xx", e.Target);
    }

    [Fact]
    public void DefaultPromptHasTheNeutralInstructionAndOneImage()
    {
        var p = Snapshot.Value.Build(new PromptOptions());
        Assert.Equal("<bos><start_of_turn>user\nDescribe this medical image.<start_of_image><end_of_turn>\n<start_of_turn>model\n", p.ChatText);
        var tok = Snapshot.Value.Tokenizer;
        Assert.Equal(1, p.InputIds.Count(id => id == tok.BosId));
        Assert.Equal(1, p.InputIds.Count(id => id == tok.BeginOfImageId));
        Assert.Equal(1, p.InputIds.Count(id => id == tok.EndOfImageId));
        Assert.Equal(256, p.InputIds.Count(id => id == tok.ImageTokenId));
        Assert.Equal(new long[] { tok.StartOfTurnId, tok.TokenToId("model")!.Value, tok.TokenToId("\n")!.Value }, p.InputIds[^3..]);
        var noImage = Snapshot.Value.Build(new PromptOptions { ImageCount = 0 });
        Assert.DoesNotContain((long)tok.ImageTokenId, noImage.InputIds);
    }

    [Fact]
    public void ImageSeqLengthComesFromTheModelFolder()
    {
        var dir = Directory.CreateTempSubdirectory("medgemma-prompt-");
        try
        {
            var e = Assert.Throws<MedGemmaException>(() => PromptBuilder.ReadImageSeqLength(dir.FullName));
            Assert.Equal(MedGemmaErrorKind.NotFound, e.Kind);
            File.WriteAllText(Path.Combine(dir.FullName, "config.json"), """{"mm_tokens_per_image": 64}""");
            Assert.Equal(64, PromptBuilder.ReadImageSeqLength(dir.FullName));
            File.WriteAllText(Path.Combine(dir.FullName, "preprocessor_config.json"), """{"image_seq_length": 32}""");
            Assert.Equal(32, PromptBuilder.ReadImageSeqLength(dir.FullName));
            File.WriteAllText(Path.Combine(dir.FullName, "processor_config.json"), """{"image_seq_length": 16}""");
            Assert.Equal(16, PromptBuilder.ReadImageSeqLength(dir.FullName));

            var p = new PromptBuilder(SharedTokenizer.Snapshot, 16).Build(new PromptOptions());
            Assert.Equal(16, p.TokenTypeIds.Count(t => t == 1));
        }
        finally { dir.Delete(true); }
    }
}
