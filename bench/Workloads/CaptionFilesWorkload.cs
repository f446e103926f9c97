using System.Diagnostics;
using MedGemma.Engine.Api;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Captioning image files end to end through a resident <see cref="MedGemmaSession"/>, as Get-MedicalCaption does:
/// the host's share (reading and resizing large JPEGs) against the model's, and what preparing the next batch while
/// one is generated (<see cref="CaptionPipeline{TTag}"/>) gives. The caption workload feeds random pixels and never
/// reads a file; this one measures what a bulk-captioning user waits for.
/// Model: --model DIR (default: the tiny MedGemma test snapshot with the real tokenizer, 896 px images).
/// </summary>
public sealed class CaptionFilesWorkload : IWorkload
{
    public string Name => "caption-files";
    public string Description => "image files to captions through the session: host preparation vs generation, pipelined or not";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs args)
    {
        var model = args.Get("model") ?? TinySnapshot();
        if (model is null || !File.Exists(Path.Combine(model, "config.json")))
        {
            Console.Error.WriteLine($"No model folder ({model ?? "the tokenizer.json is not cached: build.ps1 bench or test fetches it"}); pass --model DIR.");
            return 2;
        }
        int count = args.GetInt("images", 16), batch = args.GetInt("batch", 4), repeat = args.GetInt("repeat", 3);
        int width = args.GetInt("width", 2000), height = args.GetInt("height", 3000);
        if (count < 1 || batch < 1 || repeat < 1 || width < 1 || height < 1)
        {
            Console.Error.WriteLine("--images, --batch, --repeat, --width and --height must be at least 1.");
            return 2;
        }
        var settings = new CaptionSettings { MaxNewTokens = args.GetInt("tokens", 16) };
        var files = SyntheticJpegs(count, width, height);

        using var session = MedGemmaSession.Load(model, new SessionOptions { Device = args.Get("device") ?? (args.Has("cpu") ? "cpu" : "auto") });
        Console.WriteLine($"   model {session.Name} on {session.Device} ({session.DType}), {session.ImageSize} px; {count} JPEGs {width}x{height}, batch {batch}, " +
                          $"{settings.MaxNewTokens} new tokens; medians of {repeat} after one warm-up");
        var requests = files.Select(f => new CaptionRequest(f)).ToList();
        var firstBatch = requests.Take(batch).ToList();

        double Median(Action run)
        {
            run();
            return BenchTiming.Median(Enumerable.Range(0, repeat).Select(_ => { var sw = Stopwatch.StartNew(); run(); return sw.Elapsed.TotalSeconds; }));
        }
        var oneByOne = Median(() => { foreach (var r in firstBatch) session.PrepareCaptions([r], settings); });
        var together = Median(() => session.PrepareCaptions(firstBatch, settings));
        var prepared = session.PrepareCaptions(firstBatch, settings);
        var generate = Median(() => session.Caption(prepared));
        double Stream(int ahead) => Median(() =>
        {
            using var pipeline = new CaptionPipeline<int>(session, settings, batch) { PrepareAhead = ahead };
            var done = requests.Select((r, i) => pipeline.Add(r, i).Count).Sum() + pipeline.Complete().Count;
            if (done != count) throw new InvalidOperationException($"{done} outcomes for {count} images");
        });
        var plain = Median(() =>
        {
            foreach (var chunk in requests.Chunk(batch)) session.Caption(chunk, settings);
        });
        var serial = Stream(0);
        var pipelined = Stream(1);

        Console.WriteLine($"   {"row",-58} {"seconds",9} {"images/s",9}");
        void Row(string what, double seconds, int images) => Console.WriteLine($"   {what,-58} {seconds,9:F3} {images / seconds,9:F2}");
        Row($"prepare one batch, its images one at a time", oneByOne, batch);
        Row($"prepare one batch, its images on {Environment.ProcessorCount} cores at once", together, batch);
        Row($"generate one prepared batch", generate, batch);
        Row($"{count} files, MedGemmaSession.Caption per batch", plain, count);
        Row($"{count} files, each batch prepared then generated", serial, count);
        Row($"{count} files, next batch prepared while one is generated", pipelined, count);
        Directory.Delete(Path.GetDirectoryName(files[0])!, recursive: true);
        return 0;
    }

    /// <summary>
    /// tests/fixtures/tiny-medgemma-snapshot (its gzipped shard expanded) plus the cached real tokenizer.json, assembled
    /// under out/bench-cache; null when the tokenizer is not cached.
    /// </summary>
    static string? TinySnapshot()
    {
        var root = BenchPaths.RepoRoot();
        var tokenizer = BenchPaths.CachedTokenizerJson();
        if (!File.Exists(tokenizer)) return null;
        var source = Path.Combine(root, "tests", "fixtures", "tiny-medgemma-snapshot");
        var target = Path.Combine(root, "out", "bench-cache", "tiny-medgemma-snapshot");
        Directory.CreateDirectory(target);
        foreach (var src in Directory.GetFiles(source).Append(tokenizer))
        {
            var name = Path.GetFileName(src);
            var dst = Path.Combine(target, name.EndsWith(".gz", StringComparison.Ordinal) ? name[..^3] : name);
            if (File.Exists(dst)) continue;
            var tmp = dst + ".tmp";
            using (var input = File.OpenRead(src))
            using (var output = File.Create(tmp))
            {
                if (name.EndsWith(".gz", StringComparison.Ordinal)) { using var gz = new System.IO.Compression.GZipStream(input, System.IO.Compression.CompressionMode.Decompress); gz.CopyTo(output); }
                else input.CopyTo(output);
            }
            File.Move(tmp, dst, true);
        }
        return target;
    }

    /// <summary>Distinct gray-ish JPEGs like radiographs (a gradient with noise), written once per run into the temp folder.</summary>
    static List<string> SyntheticJpegs(int count, int width, int height)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"medgemma-bench-files-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        var rnd = new Random(7);
        for (int n = 0; n < count; n++)
        {
            using var image = new Image<Rgb24>(width, height);
            image.ProcessPixelRows(rows =>
            {
                for (int y = 0; y < rows.Height; y++)
                {
                    var row = rows.GetRowSpan(y);
                    for (int x = 0; x < row.Length; x++)
                    {
                        var v = (byte)Math.Clamp((x + y + 37 * n) % 256 / 2 + rnd.Next(64), 0, 255);
                        row[x] = new Rgb24(v, v, v);
                    }
                }
            });
            var path = Path.Combine(dir, $"image-{n:D3}.jpg");
            image.SaveAsJpeg(path);
            files.Add(path);
        }
        return files;
    }
}
