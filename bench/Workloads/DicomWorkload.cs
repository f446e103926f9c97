using System.Diagnostics;
using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Decode time of one frame (the default, middle one) per DICOM file: best of --repeat fresh reads.
/// Files: --dir PATH (default $MEDGEMMA_CACHE/dicom-samples, filled by the DICOM tests).
/// </summary>
public sealed class DicomWorkload : IWorkload
{
    public string Name => "dicom";
    public string Description => "DICOM frame decode time per sample file (ms, best of N)";
    public bool RunsOnCpu => true;

    public int Run(BenchArgs args)
    {
        var cache = Environment.GetEnvironmentVariable("MEDGEMMA_CACHE") is { Length: > 0 } c
            ? c : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "medgemma");
        var dir = args.Get("dir") ?? Path.Combine(cache, "dicom-samples");
        var repeat = args.GetInt("repeat", 5);
        if (!Directory.Exists(dir))
        {
            Console.Error.WriteLine($"No DICOM samples at {dir}; run the tests once (they fetch them) or pass --dir.");
            return 2;
        }
        Console.WriteLine($"   {"file",-58} {"size",-11} {"ms/frame",9}");
        foreach (var path in Directory.GetFiles(dir).Order())
        {
            if (!DicomFile.IsDicom(path)) continue;
            string row;
            try
            {
                var first = DicomReader.Read(path);
                first.DecodeFrame(first.DefaultFrameIndex); // warm-up (JIT)
                var best = double.MaxValue;
                for (var i = 0; i < repeat; i++)
                {
                    var fresh = DicomReader.Read(path);
                    var sw = Stopwatch.StartNew();
                    fresh.DecodeFrame(fresh.DefaultFrameIndex);
                    best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
                }
                row = $"{first.Columns}x{first.Rows,-6} {best,9:F1}";
            }
            catch (Engine.MedGemmaException e) { row = $"{"-",-11} {e.ErrorId}"; }
            Console.WriteLine($"   {Path.GetFileName(path),-58} {row}");
        }
        return 0;
    }
}
