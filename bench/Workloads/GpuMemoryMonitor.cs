using System.Diagnostics;
using System.Globalization;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Peak device memory of this process, by polling nvidia-smi (TorchSharp exposes no CUDA allocator statistics).
/// It reads the process's row of <c>--query-compute-apps</c>; where the PID is not visible (a container's PID
/// namespace) it falls back to the card's used memory minus what was used when the monitor started.
/// The number includes the CUDA context and everything the caching allocator reserved, so compare it with the
/// reference's <c>peak_reserved_GiB</c> + 1 GiB. The allocator never returns memory, so measure one row per process.
/// </summary>
public sealed class GpuMemoryMonitor : IDisposable
{
    readonly int pid = Environment.ProcessId;
    readonly long baselineUsed;
    readonly Thread thread;
    readonly CancellationTokenSource stop = new();
    long peakProcess = -1, peakDeviceDelta = -1;

    public bool Available { get; }
    public string? Source { get; private set; }

    public GpuMemoryMonitor(int intervalMs = 50)
    {
        var used = QueryDeviceUsed();
        Available = used >= 0;
        baselineUsed = Math.Max(used, 0);
        thread = new Thread(() => Poll(intervalMs)) { IsBackground = true, Name = "nvidia-smi poll" };
        if (Available) thread.Start();
    }

    /// <summary>Peak bytes seen since start or the last <see cref="Reset"/>; -1 when nvidia-smi is not there.</summary>
    public long PeakBytes
    {
        get
        {
            if (!Available) return -1;
            Sample();
            var p = Interlocked.Read(ref peakProcess);
            Source = p >= 0 ? "nvidia-smi compute-apps (this PID)" : "nvidia-smi memory.used minus start";
            return p >= 0 ? p : Interlocked.Read(ref peakDeviceDelta);
        }
    }

    public void Reset()
    {
        Interlocked.Exchange(ref peakProcess, -1);
        Interlocked.Exchange(ref peakDeviceDelta, -1);
    }

    void Poll(int intervalMs)
    {
        while (!stop.IsCancellationRequested)
        {
            Sample();
            stop.Token.WaitHandle.WaitOne(intervalMs);
        }
    }

    void Sample()
    {
        var mine = QueryProcessUsed(pid);
        if (mine >= 0) Max(ref peakProcess, mine);
        var used = QueryDeviceUsed();
        if (used >= 0) Max(ref peakDeviceDelta, used - baselineUsed);
    }

    static void Max(ref long field, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref field)) && Interlocked.CompareExchange(ref field, value, current) != current) { }
    }

    /// <summary>MiB → bytes of this PID's row, or -1.</summary>
    public static long QueryProcessUsed(int pid)
    {
        var text = Run("--query-compute-apps=pid,used_memory --format=csv,noheader,nounits");
        if (text is null) return -1;
        long total = -1;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(',');
            if (parts.Length == 2 && int.TryParse(parts[0].Trim(), out var p) && p == pid
                && long.TryParse(parts[1].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var mib))
                total = Math.Max(total, 0) + mib * (1L << 20);
        }
        return total;
    }

    /// <summary>Bytes used on GPU 0, or -1 without nvidia-smi.</summary>
    public static long QueryDeviceUsed()
    {
        var text = Run("--query-gpu=memory.used --format=csv,noheader,nounits -i 0");
        return text is not null && long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var mib) ? mib * (1L << 20) : -1;
    }

    /// <summary>The card's name (nvidia-smi), or null.</summary>
    public static string? CardName() => Run("--query-gpu=name --format=csv,noheader -i 0")?.Trim();

    static string? Run(string arguments)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("nvidia-smi", arguments)
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (p is null) return null;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(5000);
            return p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        if (thread.IsAlive) thread.Join(2000);
        stop.Dispose();
    }
}
