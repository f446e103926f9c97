using System.Runtime.InteropServices;

namespace MedGemma.Engine.Runtime;

/// <summary>Canonical paths, so a folder compares equal to how /proc/self/maps names it (symlinks resolved).</summary>
internal static partial class NativePaths
{
    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr realpath(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void free(IntPtr p);

    public static string RealPath(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return full;
        var p = realpath(full, IntPtr.Zero);
        if (p == IntPtr.Zero) return full; // missing path: nothing to resolve
        try { return Marshal.PtrToStringUTF8(p) ?? full; }
        finally { free(p); }
    }
}
