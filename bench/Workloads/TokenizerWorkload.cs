using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MedGemma.Engine.Tokenization;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Encode throughput of the Gemma 3 tokenizer on a corpus (default 10 MB of UTF-8) synthesised from
/// tests/fixtures/tokenizer/tokenizer_cases.json: case texts in a seeded random order, one per line
/// (like caption-manifest entries), encoded line by line and as one text.
/// Options: --tokenizer-json PATH, --cases PATH, --mb N, --repeat N.
/// </summary>
public sealed class TokenizerWorkload : IWorkload
{
    public string Name => "tokenizer";
    public string Description => "Gemma 3 tokenizer encode throughput (tokens/s) on a synthetic corpus";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs args)
    {
        var jsonPath = args.Get("tokenizer-json") ?? Environment.GetEnvironmentVariable("MEDGEMMA_TOKENIZER_JSON") ?? BenchPaths.CachedTokenizerJson();
        if (!File.Exists(jsonPath))
        {
            Console.Error.WriteLine($"tokenizer.json not found at {jsonPath}; run `dotnet pwsh ./build.ps1 bench` (fetches it) or pass --tokenizer-json.");
            return 2;
        }
        var casesPath = args.Get("cases") ?? Path.Combine(BenchPaths.RepoRoot(), "tests", "fixtures", "tokenizer", "tokenizer_cases.json");
        var megabytes = args.GetDouble("mb", 10);
        var repeat = args.GetInt("repeat", 3);

        var sw = Stopwatch.StartNew();
        var tokenizer = HfBpeTokenizer.FromFile(jsonPath);
        var loadSeconds = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"   load tokenizer.json: {loadSeconds:F2} s ({tokenizer.VocabularySize} ids)");

        var lines = Corpus(casesPath, (long)(megabytes * 1_000_000));
        var bytes = lines.Sum(l => (long)Encoding.UTF8.GetByteCount(l) + 1);
        var whole = string.Join('\n', lines);
        Console.WriteLine($"   corpus: {lines.Count:N0} lines, {bytes / 1e6:F1} MB UTF-8, {whole.Length:N0} chars");

        var ids = new List<int>(whole.Length);
        long Lines()
        {
            long n = 0;
            foreach (var line in lines)
            {
                ids.Clear();
                tokenizer.EncodeToIds(line.AsSpan(), addSpecialTokens: false, ids);
                n += ids.Count;
            }
            return n;
        }
        long Whole()
        {
            ids.Clear();
            tokenizer.EncodeToIds(whole.AsSpan(), addSpecialTokens: false, ids);
            return ids.Count;
        }
        long ParallelLines()
        {
            long n = 0;
            Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, lines.Count, 4096), () => (List: new List<int>(), Count: 0L), (range, _, local) =>
            {
                for (var i = range.Item1; i < range.Item2; i++)
                {
                    local.List.Clear();
                    tokenizer.EncodeToIds(lines[i].AsSpan(), false, local.List);
                    local.Count += local.List.Count;
                }
                return local;
            }, local => Interlocked.Add(ref n, local.Count));
            return n;
        }

        Measure("line by line, 1 thread", Lines, bytes, repeat);
        Measure("one 10 MB text, 1 thread", Whole, bytes, repeat);
        Measure($"line by line, {Environment.ProcessorCount} threads", ParallelLines, bytes, repeat);
        return 0;
    }

    static void Measure(string label, Func<long> run, long bytes, int repeat)
    {
        var gcBefore = GC.GetTotalAllocatedBytes(true);
        var sw = Stopwatch.StartNew();
        var tokens = run(); // first pass: cold word cache, JIT
        var cold = sw.Elapsed.TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(true) - gcBefore;
        var times = new List<double>();
        long warmAllocated = 0;
        for (var i = 0; i < repeat; i++)
        {
            var before = GC.GetTotalAllocatedBytes(true);
            sw.Restart();
            run();
            times.Add(sw.Elapsed.TotalSeconds);
            warmAllocated = GC.GetTotalAllocatedBytes(true) - before;
        }
        times.Sort();
        var median = times[times.Count / 2];
        Console.WriteLine($"   {label,-28} {tokens:N0} tokens | cold {tokens / cold / 1e6:F2} M tokens/s ({cold:F2} s, {allocated / 1e6:F0} MB allocated)"
            + $" | warm median {tokens / median / 1e6:F2} M tokens/s, {bytes / median / 1e6:F1} MB/s ({median:F2} s, {warmAllocated / 1e6:F1} MB allocated)");
    }

    /// <summary>Case texts in a seeded random order until the corpus reaches <paramref name="targetBytes"/> of UTF-8.</summary>
    static List<string> Corpus(string casesPath, long targetBytes)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(casesPath));
        var texts = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).Where(t => t.Length > 0).ToArray();
        var rng = new Random(1234);
        var lines = new List<string>();
        long total = 0;
        while (total < targetBytes)
        {
            var t = texts[rng.Next(texts.Length)];
            lines.Add(t);
            total += Encoding.UTF8.GetByteCount(t) + 1;
        }
        return lines;
    }
}
