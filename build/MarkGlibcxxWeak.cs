#nullable enable
using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Marks a GLIBCXX version need as weak in every libLibTorchSharp.so below Directory,
// when the system libstdc++ does not define that version. See GlibcxxWeak.targets for why.
public class MarkGlibcxxWeak : Task
{
    [Required] public string Directory { get; set; } = "";
    [Required] public string Version { get; set; } = "";

    const uint SHT_GNU_VERNEED = 0x6ffffffe;
    const ushort VER_FLG_WEAK = 2;

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory)) return true;
        var targets = System.IO.Directory.GetFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        if (targets.Length == 0) return true;
        var libstdcxx = FindSystemLibstdcxx();
        if (libstdcxx != null && ContainsVersion(libstdcxx, Version))
        {
            Log.LogMessage(MessageImportance.Low, $"{libstdcxx} provides {Version}; libLibTorchSharp.so left as is.");
            return true;
        }
        foreach (var file in targets)
        {
            try
            {
                var result = Patch(file, Version);
                Log.LogMessage(MessageImportance.Normal, $"{file}: {result}");
            }
            catch (Exception e)
            {
                Log.LogWarning($"Could not mark {Version} weak in {file}: {e.Message}");
            }
        }
        return true;
    }

    static string? FindSystemLibstdcxx()
    {
        foreach (var p in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
                                  "/usr/lib64/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
            if (File.Exists(p)) return p;
        try
        {
            var psi = new ProcessStartInfo("ldconfig", "-p") { RedirectStandardOutput = true, UseShellExecute = false };
            using var proc = Process.Start(psi)!;
            var output = proc.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            var line = output.Split('\n').FirstOrDefault(l => l.Contains("libstdc++.so.6"));
            if (line != null && line.Contains("=>")) return line.Substring(line.IndexOf("=>") + 2).Trim();
        }
        catch { }
        return null;
    }

    static bool ContainsVersion(string path, string version)
    {
        var bytes = File.ReadAllBytes(path);
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        for (int i = 0; i + needle.Length <= bytes.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && bytes[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    // ELF64 little endian only (linux-x64 / linux-arm64 builds of TorchSharp).
    static string Patch(string path, string version)
    {
        var b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F') return "not an ELF file";
        if (b[4] != 2 || b[5] != 1) return "not ELF64 little endian; skipped";
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        ushort shentsize = BitConverter.ToUInt16(b, 0x3A);
        ushort shnum = BitConverter.ToUInt16(b, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = (long)shoff + s * shentsize;
            uint type = BitConverter.ToUInt32(b, (int)sh + 4);
            if (type != SHT_GNU_VERNEED) continue;
            long off = (long)BitConverter.ToUInt64(b, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(b, (int)sh + 0x28);
            long strsh = (long)shoff + link * shentsize;
            long stroff = (long)BitConverter.ToUInt64(b, (int)strsh + 0x18);
            long vn = off;
            while (true)
            {
                ushort cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                uint aux = BitConverter.ToUInt32(b, (int)vn + 8);
                uint next = BitConverter.ToUInt32(b, (int)vn + 12);
                long va = vn + aux;
                for (int i = 0; i < cnt; i++)
                {
                    uint name = BitConverter.ToUInt32(b, (int)va + 8);
                    if (ReadCString(b, stroff + name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(b, (int)va + 4);
                        if ((flags & VER_FLG_WEAK) != 0) return $"{version} already weak";
                        flags |= VER_FLG_WEAK;
                        var tmp = path + ".tmp";
                        b[va + 4] = (byte)(flags & 0xff);
                        b[va + 5] = (byte)(flags >> 8);
                        File.WriteAllBytes(tmp, b);
                        File.Delete(path);
                        File.Move(tmp, path);
                        return $"marked {version} weak";
                    }
                    uint vnaNext = BitConverter.ToUInt32(b, (int)va + 12);
                    if (vnaNext == 0) break;
                    va += vnaNext;
                }
                if (next == 0) break;
                vn += next;
            }
        }
        return $"no need for {version}";
    }

    static string ReadCString(byte[] b, long at)
    {
        long end = at;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)at, (int)(end - at));
    }
}
