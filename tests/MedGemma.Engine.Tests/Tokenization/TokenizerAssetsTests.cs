using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Tokenization;

[Trait("Category", "Tokenizer")]
public class TokenizerAssetsTests
{
    [Fact]
    public void TokenizerJsonIsFetchedIntoTheCache()
    {
        var path = TokenizerAssets.TokenizerJsonPath();
        Assert.True(File.Exists(path), path);
        Assert.StartsWith(TokenizerAssets.CacheRoot(), path);
        // Gemma 3: 262,144 pieces and 514,906 merges make a file of about 33 MB.
        Assert.InRange(new FileInfo(path).Length, 30_000_000, 40_000_000);
    }

    [Fact]
    public void SnapshotFolderIsACompleteModelFolder()
    {
        var folder = TokenizerAssets.SnapshotFolderWithTokenizer();
        foreach (var name in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "processor_config.json",
                                     "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" })
            Assert.True(File.Exists(Path.Combine(folder, name)), name);
        Assert.Empty(Directory.GetFiles(folder, "*.gz"));
        Assert.Equal(new FileInfo(TokenizerAssets.TokenizerJsonPath()).Length, new FileInfo(Path.Combine(folder, "tokenizer.json")).Length);
    }
}
