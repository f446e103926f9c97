using System.Text.Json.Nodes;
using MedGemma.Engine.Lora;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Lora;

public class AdapterConfigFileTests
{
    [Fact]
    public void ReadsThePeftFixtureConfig()
    {
        var c = AdapterConfigFile.Read(Path.Combine(Fixtures.Folder("tiny-gemma3"), "adapter", "adapter_config.json"));
        Assert.Equal(16, c.R);
        Assert.Equal(32, c.Alpha);
        Assert.Equal(0, c.Dropout);
        Assert.Equal(new[] { "q_proj", "v_proj" }, c.TargetModules.OrderBy(s => s));
        Assert.Null(c.TargetRegex);
        Assert.False(c.UseRsLora);
        Assert.Equal(2.0, c.Scaling);
    }

    [Fact]
    public void WritesWhatItReads()
    {
        var dir = Directory.CreateTempSubdirectory("lora-cfg").FullName;
        try
        {
            var c = new LoraConfig { R = 8, Alpha = 16.5, Dropout = 0.05, UseRsLora = true, BaseModelNameOrPath = "google/medgemma-1.5-4b-it" }.RestrictToLanguageModel();
            var path = Path.Combine(dir, "adapter_config.json");
            AdapterConfigFile.Write(path, c);
            var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            Assert.Equal("LORA", (string?)json["peft_type"]);
            Assert.Equal("CAUSAL_LM", (string?)json["task_type"]);
            Assert.Equal("none", (string?)json["bias"]);
            Assert.Equal(8, (int)json["r"]!);
            var back = AdapterConfigFile.Read(path);
            Assert.Equal(c.TargetRegex, back.TargetRegex);
            Assert.Equal(c with { TargetModules = back.TargetModules }, back);
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("{\"peft_type\":\"IA3\",\"r\":8,\"target_modules\":[\"q_proj\"]}", "UnsupportedAdapterConfig")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":8,\"use_dora\":true,\"target_modules\":[\"q_proj\"]}", "UnsupportedAdapterConfig")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":8,\"rank_pattern\":{\"q_proj\":4},\"target_modules\":[\"q_proj\"]}", "UnsupportedAdapterConfig")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":0,\"target_modules\":[\"q_proj\"]}", "InvalidLoraRank")]
    [InlineData("{\"peft_type\":\"LORA\",\"r\":8,\"target_modules\":5}", "BadAdapterConfig")]
    [InlineData("not json", "BadAdapterConfig")]
    public void RejectsWhatWeCannotHonour(string text, string errorId)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        try
        {
            var e = Assert.Throws<MedGemmaException>(() => AdapterConfigFile.Read(path));
            Assert.Equal(errorId, e.ErrorId);
        }
        finally { File.Delete(path); }
    }
}
