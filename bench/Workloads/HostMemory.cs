namespace MedGemma.Bench.Workloads;

/// <summary>
/// The process's resident memory from /proc/self/status (Linux). On a CPU run the peak resident size is a fair
/// proxy for the activation memory a step keeps (weights and optimizer state are resident before it starts).
/// </summary>
public static class HostMemory
{
    /// <summary>Resets VmHWM to the current RSS (writing 5 to /proc/self/clear_refs) and returns that RSS in bytes (-1 if unknown).</summary>
    public static long ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return StatusBytes("VmRSS");
    }

    /// <summary>The peak resident size since the last <see cref="ResetPeak"/> (or process start), bytes; -1 if unknown.</summary>
    public static long PeakBytes() => StatusBytes("VmHWM");

    /// <summary>The resident size now, bytes; -1 if unknown.</summary>
    public static long CurrentBytes() => StatusBytes("VmRSS");

    static long StatusBytes(string field)
    {
        if (!File.Exists("/proc/self/status")) return -1;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        return -1;
    }
}
