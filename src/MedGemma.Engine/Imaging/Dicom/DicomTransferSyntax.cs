namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>How the data set after the file meta group is encoded, and how its pixel data is compressed.</summary>
public enum DicomPixelEncoding
{
    Native,
    Rle,
    /// <summary>JPEG baseline / extended (DCT, Huffman), processes 1 and 2/4.</summary>
    JpegDct,
    /// <summary>JPEG lossless (process 14), any predictor.</summary>
    JpegLossless,
    /// <summary>Recognised but not decoded here (JPEG-LS, JPEG 2000, MPEG, HTJ2K...).</summary>
    Unsupported,
}

/// <summary>A transfer syntax: UID, readable name, VR/endianness of the data set, pixel compression.</summary>
public sealed record DicomTransferSyntax(string Uid, string Name, bool ExplicitVr, bool BigEndian, bool Deflated, DicomPixelEncoding Encoding)
{
    public static readonly DicomTransferSyntax ImplicitVrLittleEndian = new("1.2.840.10008.1.2", "Implicit VR Little Endian", false, false, false, DicomPixelEncoding.Native);
    public static readonly DicomTransferSyntax ExplicitVrLittleEndian = new("1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false, false, DicomPixelEncoding.Native);

    static readonly DicomTransferSyntax[] Known =
    [
        ImplicitVrLittleEndian,
        ExplicitVrLittleEndian,
        new("1.2.840.10008.1.2.2", "Explicit VR Big Endian", true, true, false, DicomPixelEncoding.Native),
        new("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true, false, true, DicomPixelEncoding.Native),
        new("1.2.840.10008.1.2.5", "RLE Lossless", true, false, false, DicomPixelEncoding.Rle),
        new("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true, false, false, DicomPixelEncoding.JpegDct),
        new("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true, false, false, DicomPixelEncoding.JpegDct),
        new("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, false, DicomPixelEncoding.JpegLossless),
        new("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", true, false, false, DicomPixelEncoding.JpegLossless),
        new("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless Only", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.91", "JPEG 2000", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless Only", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless Only", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Lossless Only", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile @ Main Level", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile @ High Level", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", true, false, false, DicomPixelEncoding.Unsupported),
        new("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", true, false, false, DicomPixelEncoding.Unsupported),
    ];

    /// <summary>The syntax for a UID. Unknown UIDs are assumed to be explicit VR little endian with
    /// encapsulated, unsupported pixel data (the rule PS3.5 gives for all compressed syntaxes).</summary>
    public static DicomTransferSyntax FromUid(string uid)
    {
        foreach (var ts in Known) if (ts.Uid == uid) return ts;
        return new(uid, "unknown transfer syntax", true, false, false, DicomPixelEncoding.Unsupported);
    }

    public override string ToString() => $"{Uid} ({Name})";
}
