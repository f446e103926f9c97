using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Model;

/// <summary>
/// The parity fixture folders: MEDGEMMA_PARITY_FIXTURES (':'-separated) when set, else tests/fixtures/tiny-gemma3.
/// Every config*.json x model*.safetensors pair of every folder is one case; a listed folder that does not exist
/// becomes a case that fails.
/// </summary>
public static class ParityCases
{
    public const string Missing = "<missing>";

    public static IEnumerable<string> Folders()
    {
        var env = Environment.GetEnvironmentVariable("MEDGEMMA_PARITY_FIXTURES");
        return string.IsNullOrWhiteSpace(env)
            ? new[] { Path.Combine(Fixtures.Root, "tiny-gemma3") }
            : env.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public static IEnumerable<object[]> All()
    {
        foreach (var folder in Folders())
        {
            if (!Directory.Exists(folder)) { yield return new object[] { folder, Missing, Missing }; continue; }
            var expanded = Fixtures.Expand(folder);
            var configs = Directory.GetFiles(expanded, "config*.json").Select(Path.GetFileName).Order().ToArray();
            var models = Directory.GetFiles(expanded, "model*.safetensors").Select(Path.GetFileName).Order().ToArray();
            if (configs.Length == 0 || models.Length == 0) { yield return new object[] { folder, Missing, Missing }; continue; }
            foreach (var c in configs)
                foreach (var m in models)
                    yield return new object[] { folder, c!, m! };
        }
    }

    /// <summary>The expanded folder, or a failure naming the missing input.</summary>
    public static string Resolve(string folder, string config, string model)
    {
        Assert.True(Directory.Exists(folder), $"Parity fixture folder not found: {folder}");
        Assert.False(config == Missing, $"Parity fixture folder {folder} has no config*.json or no model*.safetensors.");
        return Fixtures.Expand(folder);
    }
}
