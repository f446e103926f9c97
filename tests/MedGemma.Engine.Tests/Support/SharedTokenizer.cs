using MedGemma.Engine.Tokenization;

namespace MedGemma.Engine.Tests.Support;

/// <summary>The real Gemma 3 tokenizer, loaded once per test run (loading takes about a second).</summary>
public static class SharedTokenizer
{
    static readonly Lazy<GemmaTokenizer> Gemma = new(() => GemmaTokenizer.FromModelFolder(TokenizerAssets.SnapshotFolderWithTokenizer()));

    /// <summary>The tokenizer of the tiny-medgemma snapshot folder (tokenizer.json from npm + the snapshot's tokenizer_config.json).</summary>
    public static GemmaTokenizer Snapshot => Gemma.Value;

    /// <summary>The tokenizer.json tokenizer itself.</summary>
    public static HfBpeTokenizer Hf => (HfBpeTokenizer)Gemma.Value.Inner;
}
