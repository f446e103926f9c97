namespace MedGemma.Bench;

/// <summary>Command line: positional workload names, then --name value / --flag options.</summary>
public sealed class BenchArgs
{
    readonly Dictionary<string, string?> named = new(StringComparer.OrdinalIgnoreCase);
    public List<string> Positional { get; } = [];

    public static BenchArgs Parse(string[] args)
    {
        var r = new BenchArgs();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) { r.Positional.Add(args[i]); continue; }
            var name = args[i][2..];
            var eq = name.IndexOf('=');
            if (eq >= 0) r.named[name[..eq]] = name[(eq + 1)..];
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) && !IsFlag(name)) r.named[name] = args[++i];
            else r.named[name] = null;
        }
        return r;
    }

    // Flags never take a value, so "--cpu tokenizer" keeps "tokenizer" as a workload name.
    static bool IsFlag(string name) => name is "cpu" or "help" or "gpu" or "gradient-checkpointing" or "keep" or "no-loss-readback" or "vision-alone";

    public bool Has(string name) => named.ContainsKey(name);
    public string? Get(string name) => named.TryGetValue(name, out var v) ? v : null;
    public int GetInt(string name, int fallback) => int.TryParse(Get(name), out var v) ? v : fallback;
    public double GetDouble(string name, double fallback) => double.TryParse(Get(name), System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : fallback;
}

/// <summary>One benchmark workload.</summary>
public interface IWorkload
{
    string Name { get; }
    string Description { get; }
    /// <summary>Whether `--cpu` (build.ps1 bench) runs it.</summary>
    bool RunsOnCpu { get; }
    int Run(BenchArgs args);
}

/// <summary>Paths shared by workloads.</summary>
public static class BenchPaths
{
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "build.ps1"))) dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }

    public static string CacheRoot()
    {
        var env = Environment.GetEnvironmentVariable("MEDGEMMA_CACHE");
        return !string.IsNullOrWhiteSpace(env) ? Path.GetFullPath(env)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "medgemma");
    }

    /// <summary>The tokenizer.json that build.ps1 test / bench fetched into the cache (build/tokenizer-package.json).</summary>
    public static string CachedTokenizerJson()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot(), "build", "tokenizer-package.json")));
        var package = doc.RootElement.GetProperty("package").GetString()!;
        var version = doc.RootElement.GetProperty("version").GetString()!;
        return Path.Combine(CacheRoot(), "npm", package.TrimStart('@').Replace('/', '-') + "-" + version, "tokenizer.json");
    }
}
