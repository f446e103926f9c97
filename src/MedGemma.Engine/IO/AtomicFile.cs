using System.Text;

namespace MedGemma.Engine.IO;

/// <summary>
/// Writes a file so readers see the old content or the new, never half of it (manifests, adapter configs,
/// trainer state): a temporary file in the same folder, flushed, then renamed over the target.
/// </summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text) => Write(path, tmp =>
    {
        using var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write);
        stream.Write(new UTF8Encoding(false).GetBytes(text));
        stream.Flush(flushToDisk: true);
    });

    /// <summary><paramref name="writeTemp"/> writes the whole content to the temporary path it is given.</summary>
    public static void Write(string path, Action<string> writeTemp)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            writeTemp(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
