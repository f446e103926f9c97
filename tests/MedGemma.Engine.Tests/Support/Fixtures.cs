using System.IO.Compression;

namespace MedGemma.Engine.Tests.Support;

/// <summary>
/// Locates the reference fixtures copied into tests/fixtures. Files over 10 MiB are committed
/// gzip-compressed (name.gz); <see cref="Folder"/> returns a cache copy with them expanded, so
/// tests see the folder exactly as the reference wrote it.
/// </summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>
    /// Golden files for a check that can run on other reference cases: those listed in the environment variable
    /// <paramref name="variable"/> (':'-separated; a relative path is taken from the current directory, else from the
    /// repository root) when it is set, else <paramref name="defaultFile"/>.
    /// </summary>
    public static IReadOnlyList<string> CaseFiles(string variable, string defaultFile)
    {
        var env = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(env)) return [defaultFile];
        return env.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => Path.IsPathRooted(p) || File.Exists(p) ? Path.GetFullPath(p) : Path.Combine(RepoRoot, p)).ToList();
    }

    /// <summary>A fixture folder (e.g. "tiny-gemma3") with any *.gz file expanded beside its siblings.</summary>
    public static string Folder(string name) => Expand(Path.Combine(Root, name));

    /// <summary>Expands a fixture folder given by absolute path (used for MEDGEMMA_PARITY_FIXTURES folders too).</summary>
    public static string Expand(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Fixture folder not found: {folder}");
        var gz = Directory.GetFiles(folder, "*.gz", SearchOption.AllDirectories);
        if (gz.Length == 0) return folder;
        var cache = Path.Combine(RepoRoot, "out", "fixtures-cache", Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)));
        lock (Gate)
        {
            foreach (var src in Directory.GetFiles(folder, "*", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(folder, src);
                var isGz = rel.EndsWith(".gz", StringComparison.Ordinal);
                var dst = Path.Combine(cache, isGz ? rel[..^3] : rel);
                if (File.Exists(dst) && File.GetLastWriteTimeUtc(dst) >= File.GetLastWriteTimeUtc(src)) continue;
                Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
                var tmp = dst + "." + Environment.ProcessId + ".tmp";
                if (isGz)
                {
                    using var input = new GZipStream(File.OpenRead(src), CompressionMode.Decompress);
                    using var output = File.Create(tmp);
                    input.CopyTo(output);
                }
                else File.Copy(src, tmp, true);
                File.Move(tmp, dst, true);
            }
        }
        return cache;
    }

    static readonly object Gate = new();

    static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "build.ps1"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (build.ps1) above " + AppContext.BaseDirectory);
    }
}
