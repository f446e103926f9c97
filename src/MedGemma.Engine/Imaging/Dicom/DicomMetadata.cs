using System.Globalization;

namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>
/// Builds the metadata a pipeline may see. Patient and staff identifiers are listed here and are
/// copied only on explicit opt-in (<see cref="DicomReadOptions.IncludePatientIdentifiers"/>);
/// free-text descriptions are left out too because they often carry names.
/// </summary>
public static class DicomMetadata
{
    /// <summary>Attributes that identify a patient or a person; never copied by default.</summary>
    public static IReadOnlyDictionary<DicomTag, string> IdentifyingTags { get; } = new Dictionary<DicomTag, string>
    {
        [new(0x0008, 0x0050)] = "AccessionNumber",
        [new(0x0008, 0x0080)] = "InstitutionName",
        [new(0x0008, 0x0081)] = "InstitutionAddress",
        [new(0x0008, 0x0090)] = "ReferringPhysicianName",
        [new(0x0008, 0x1050)] = "PerformingPhysicianName",
        [new(0x0008, 0x1070)] = "OperatorsName",
        [new(0x0010, 0x0010)] = "PatientName",
        [new(0x0010, 0x0020)] = "PatientID",
        [new(0x0010, 0x0030)] = "PatientBirthDate",
        [new(0x0010, 0x0040)] = "PatientSex",
        [new(0x0010, 0x1000)] = "OtherPatientIDs",
        [new(0x0010, 0x1001)] = "OtherPatientNames",
        [new(0x0010, 0x1010)] = "PatientAge",
        [new(0x0010, 0x1040)] = "PatientAddress",
        [new(0x0010, 0x2154)] = "PatientTelephoneNumbers",
        [new(0x0020, 0x0010)] = "StudyID",
    };

    static readonly (DicomTag Tag, string Key)[] Plain =
    [
        (DicomTag.Modality, "Modality"),
        (DicomTag.BodyPartExamined, "BodyPartExamined"),
        (DicomTag.StudyDate, "StudyDate"),
        (DicomTag.SopClassUid, "SOPClassUID"),
        (DicomTag.Manufacturer, "Manufacturer"),
        (DicomTag.PhotometricInterpretation, "PhotometricInterpretation"),
        (DicomTag.BurnedInAnnotation, "BurnedInAnnotation"),
        (DicomTag.PatientIdentityRemoved, "PatientIdentityRemoved"),
    ];

    /// <summary>Modalities whose images commonly carry burned-in text (ultrasound, secondary capture, other).</summary>
    static readonly string[] BurnInModalities = ["US", "SC", "OT", "XC", "ES"];

    internal static Dictionary<string, string> Build(DicomImage image, bool includeIdentifiers)
    {
        var ds = image.Dataset;
        var m = new Dictionary<string, string>
        {
            ["Format"] = "DICOM",
            ["Dicom.TransferSyntaxUID"] = image.TransferSyntax.Uid,
            ["Dicom.TransferSyntax"] = image.TransferSyntax.Name,
        };
        foreach (var (tag, key) in Plain)
            if (ds.GetString(tag) is { Length: > 0 } v) m["Dicom." + key] = v;
        if (image.HasPixelData)
        {
            m["Dicom.Rows"] = image.Rows.ToString(CultureInfo.InvariantCulture);
            m["Dicom.Columns"] = image.Columns.ToString(CultureInfo.InvariantCulture);
            m["Dicom.NumberOfFrames"] = image.NumberOfFrames.ToString(CultureInfo.InvariantCulture);
            m["Dicom.SamplesPerPixel"] = image.SamplesPerPixel.ToString(CultureInfo.InvariantCulture);
            m["Dicom.BitsAllocated"] = image.BitsAllocated.ToString(CultureInfo.InvariantCulture);
            m["Dicom.BitsStored"] = image.BitsStored.ToString(CultureInfo.InvariantCulture);
            m["Dicom.PixelRepresentation"] = image.IsSigned ? "1" : "0";
        }
        if (includeIdentifiers)
            foreach (var (tag, key) in IdentifyingTags)
                if (ds.GetString(tag) is { Length: > 0 } v) m["Dicom." + key] = v;
        if (image.Warnings.Count > 0) m["Dicom.Warnings"] = string.Join(" | ", image.Warnings);
        return m;
    }

    internal static List<string> Warnings(DicomDataset ds)
    {
        var w = new List<string>();
        var burned = ds.GetString(DicomTag.BurnedInAnnotation)?.ToUpperInvariant();
        var modality = ds.GetString(DicomTag.Modality)?.ToUpperInvariant() ?? "";
        bool secondaryCapture = ds.GetString(DicomTag.SopClassUid)?.StartsWith("1.2.840.10008.5.1.4.1.1.7", StringComparison.Ordinal) == true;
        if (burned == "YES")
            w.Add("BurnedInAnnotation is YES: the pixels contain text that may identify the patient.");
        else if (burned != "NO" && (BurnInModalities.Contains(modality) || secondaryCapture))
            w.Add($"BurnedInAnnotation is {(burned is null or "" ? "missing" : burned)} on a {(secondaryCapture ? "secondary capture" : modality)} image: the pixels may contain identifying text.");
        if (ds.GetString(DicomTag.PatientIdentityRemoved)?.ToUpperInvariant() == "YES" && HasRealName(ds))
            w.Add("PatientIdentityRemoved is YES but patient identifiers are present.");
        return w;
    }

    static bool HasRealName(DicomDataset ds)
    {
        foreach (var tag in new[] { new DicomTag(0x0010, 0x0010), new DicomTag(0x0010, 0x0020) })
        {
            var v = ds.GetString(tag);
            if (!string.IsNullOrWhiteSpace(v?.Replace("^", "")) && !v!.Contains("anonym", StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }
}
