using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Bench.Workloads;

/// <summary>Synchronised wall-clock timing: the device is drained before every clock read.</summary>
public static class BenchTiming
{
    public static void Sync(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }

    /// <summary>Seconds of one call of <paramref name="action"/>, synchronised on both sides.</summary>
    public static double Time(Device device, Action action)
    {
        Sync(device);
        var sw = Stopwatch.StartNew();
        action();
        Sync(device);
        return sw.Elapsed.TotalSeconds;
    }

    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }


    public static string Gib(long bytes) => bytes < 0 ? "n/a" : (bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB";
}
