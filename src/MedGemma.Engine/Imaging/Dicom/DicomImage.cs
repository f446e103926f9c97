using System.Buffers.Binary;
using System.Globalization;
using MedGemma.Engine.Imaging.Dicom.Codecs;

namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>
/// A parsed DICOM file: its data set, the image pixel attributes, non-identifying metadata and
/// warnings. Frames are decoded on request, one at a time (<see cref="DecodeFrame"/>).
/// </summary>
public sealed class DicomImage
{
    readonly DicomReadOptions _options;
    List<byte[]>? _frameFragments; // encapsulated: compressed bytes per frame, built on first use (a race only builds it twice)

    public string Source { get; }
    public DicomDataset Dataset { get; }
    public DicomTransferSyntax TransferSyntax { get; }
    public bool HasPixelData { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int SamplesPerPixel { get; }
    public int BitsAllocated { get; }
    public int BitsStored { get; }
    public int HighBit { get; }
    public bool IsSigned { get; }
    public string Photometric { get; }
    /// <summary>0 = colour-by-pixel (R,G,B,R,G,B...), 1 = colour-by-plane.</summary>
    public int PlanarConfiguration { get; }
    public int NumberOfFrames { get; }
    public string? Modality => Dataset.GetString(DicomTag.Modality);
    public double RescaleSlope { get; }
    public double RescaleIntercept { get; }
    /// <summary>The frame used when the caller does not choose one: the middle frame.</summary>
    public int DefaultFrameIndex => NumberOfFrames / 2;
    public IReadOnlyList<string> Warnings { get; }
    /// <summary>Non-identifying facts (Modality, BodyPartExamined, StudyDate, Rows, Columns...), keys "Dicom.*".
    /// Patient identifiers appear only with <see cref="DicomReadOptions.IncludePatientIdentifiers"/>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    internal DicomImage(DicomDataset dataset, DicomTransferSyntax ts, string source, DicomReadOptions options)
    {
        Dataset = dataset; TransferSyntax = ts; Source = source; _options = options;
        HasPixelData = dataset.Contains(DicomTag.PixelData);
        Photometric = (dataset.GetString(DicomTag.PhotometricInterpretation) ?? "").ToUpperInvariant();
        Warnings = DicomMetadata.Warnings(dataset);
        RescaleSlope = dataset.GetNumber(DicomTag.RescaleSlope) is { } s && s != 0 ? s : 1;
        RescaleIntercept = dataset.GetNumber(DicomTag.RescaleIntercept) ?? 0;
        if (HasPixelData)
        {
            Rows = Required(DicomTag.Rows, "Rows");
            Columns = Required(DicomTag.Columns, "Columns");
            SamplesPerPixel = dataset.GetUInt16(DicomTag.SamplesPerPixel) ?? 1;
            BitsAllocated = Required(DicomTag.BitsAllocated, "BitsAllocated");
            BitsStored = dataset.GetUInt16(DicomTag.BitsStored) ?? BitsAllocated;
            HighBit = dataset.GetUInt16(DicomTag.HighBit) ?? BitsStored - 1;
            IsSigned = dataset.GetUInt16(DicomTag.PixelRepresentation) == 1;
            PlanarConfiguration = dataset.GetUInt16(DicomTag.PlanarConfiguration) ?? 0;
            var frames = dataset.GetString(DicomTag.NumberOfFrames);
            NumberOfFrames = string.IsNullOrEmpty(frames) ? 1
                : int.TryParse(frames, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 1 ? n
                : throw DicomReader.Invalid(source, "BadFrameCount", $"has an invalid Number of Frames \"{frames}\"");
            Validate();
        }
        Metadata = DicomMetadata.Build(this, options.IncludePatientIdentifiers);
    }

    int Required(DicomTag tag, string name) =>
        Dataset.GetUInt16(tag) is { } v and > 0 ? v : throw DicomReader.Invalid(Source, "MissingAttribute", $"has pixel data but no valid {name} {tag}");

    void Validate()
    {
        if (SamplesPerPixel is not (1 or 3))
            throw DicomReader.Invalid(Source, "BadSamplesPerPixel", $"has {SamplesPerPixel} samples per pixel (1 or 3 expected)");
        if (BitsAllocated is not (8 or 16 or 32))
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedBitsAllocated", $"{Source}: Bits Allocated {BitsAllocated} is not supported (8, 16 or 32).", Source);
        if (BitsStored < 1 || BitsStored > BitsAllocated || HighBit < BitsStored - 1 || HighBit >= BitsAllocated)
            throw DicomReader.Invalid(Source, "BadBits", $"has inconsistent Bits Stored {BitsStored} / High Bit {HighBit} for Bits Allocated {BitsAllocated}");
        if ((long)Rows * Columns * SamplesPerPixel > _options.MaxFrameSamples)
            throw DicomReader.Invalid(Source, "FrameTooLarge", $"declares {Rows}x{Columns}x{SamplesPerPixel} samples per frame, over the {_options.MaxFrameSamples} limit");
        if (TransferSyntax.Encoding == DicomPixelEncoding.Native)
        {
            long need = (long)NativeFrameBytes * NumberOfFrames;
            int have = Dataset.GetElement(DicomTag.PixelData)!.Length;
            if (have < need)
                throw DicomReader.Invalid(Source, "PixelDataShort", $"has {have} bytes of pixel data but {NumberOfFrames} frame(s) of {Rows}x{Columns}x{SamplesPerPixel} at {BitsAllocated} bits need {need}");
        }
    }

    /// <summary>YBR_FULL_422 stores two luma samples and one Cb, Cr pair per two pixels.</summary>
    bool IsNative422 => Photometric == "YBR_FULL_422" && SamplesPerPixel == 3;

    int NativeFrameBytes => (int)((long)Rows * Columns * (IsNative422 ? 2 : SamplesPerPixel) * (BitsAllocated / 8));

    /// <summary>The bytes of one frame as stored: a slice of native pixel data, or the compressed
    /// bitstream (fragments joined) for an encapsulated syntax.</summary>
    public ReadOnlyMemory<byte> GetFrameBytes(int frameIndex)
    {
        RequirePixels();
        if (frameIndex < 0 || frameIndex >= NumberOfFrames)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "DicomFrameOutOfRange", $"{Source}: frame {frameIndex} does not exist ({NumberOfFrames} frame(s)).", Source);
        var e = Dataset.GetElement(DicomTag.PixelData)!;
        if (e.Fragments == null)
        {
            if (TransferSyntax.Encoding != DicomPixelEncoding.Native)
                throw DicomReader.Invalid(Source, "NotEncapsulated", $"uses {TransferSyntax} but its pixel data is not encapsulated");
            return new ReadOnlyMemory<byte>(Dataset.Buffer, e.Offset + frameIndex * NativeFrameBytes, NativeFrameBytes);
        }
        var frames = _frameFragments ??= EncapsulatedFrames.Split(Dataset.Buffer, e.Fragments, NumberOfFrames, TransferSyntax.Encoding, Source);
        return frames[frameIndex];
    }

    /// <summary>Decodes one frame to stored values. Throws NotSupported for transfer syntaxes without a decoder here.</summary>
    public DicomFrame DecodeFrame(int frameIndex)
    {
        RequirePixels();
        if (TransferSyntax.Encoding == DicomPixelEncoding.Unsupported)
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "DicomUnsupportedTransferSyntax", $"{Source}: unsupported transfer syntax {TransferSyntax.Uid} ({TransferSyntax.Name}).", Source);
        var data = GetFrameBytes(frameIndex);
        try
        {
            return TransferSyntax.Encoding switch
            {
                DicomPixelEncoding.Native => NativeFrame(data.Span),
                DicomPixelEncoding.Rle => Finish(RleDecoder.Decode(data.Span, Columns, Rows, SamplesPerPixel, BitsAllocated, Source), Photometric, shift: 0),
                DicomPixelEncoding.JpegLossless => Finish(JpegLosslessDecoder.Decode(data.Span, Columns, Rows, Source), Photometric, shift: 0),
                _ => JpegDct(data.Span),
            };
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or OverflowException)
        {
            throw DicomReader.Invalid(Source, "CorruptPixelData", $"frame {frameIndex} cannot be decoded ({TransferSyntax.Name}): {e.Message}");
        }
    }

    DicomFrame JpegDct(ReadOnlySpan<byte> data)
    {
        var info = JpegInfo.Read(data, Source);
        if (info.Width != Columns || info.Height != Rows)
            throw DicomReader.Invalid(Source, "FrameSizeMismatch", $"a JPEG frame is {info.Width}x{info.Height} but the header says {Columns}x{Rows}");
        if (info.Precision > 8)
            return Finish(JpegDctDecoder.Decode(data, Columns, Rows, Source), Photometric, shift: 0);
        // ImageSharp converts YCbCr to RGB for 3-component frames.
        var frame = ImageSharpJpeg.Decode(data, info.Components, Source);
        return Finish(frame, frame.SamplesPerPixel == 3 ? "RGB" : Photometric, shift: 0);
    }

    DicomFrame NativeFrame(ReadOnlySpan<byte> data)
    {
        int pixels = Rows * Columns;
        int spp = IsNative422 ? 2 : SamplesPerPixel;
        var raw = new int[pixels * spp];
        bool bigEndian = Dataset.BigEndian;
        switch (BitsAllocated)
        {
            case 8:
                // Explicit big endian stores 8-bit data as OW: bytes swapped in pairs.
                bool swapped = bigEndian && Dataset.GetElement(DicomTag.PixelData)!.Vr == "OW";
                for (int i = 0; i < raw.Length; i++) raw[i] = data[swapped ? i ^ 1 : i];
                break;
            case 16:
                for (int i = 0; i < raw.Length; i++)
                    raw[i] = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(data.Slice(2 * i)) : BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(2 * i));
                break;
            default:
                for (int i = 0; i < raw.Length; i++)
                    raw[i] = (int)(bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(data.Slice(4 * i)) : BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(4 * i)));
                break;
        }
        if (IsNative422)
        {
            var full = new int[pixels * 3];
            for (int p = 0; p < pixels; p += 2)
            {
                int q = p * 2; // Y1 Y2 Cb Cr
                full[3 * p] = raw[q]; full[3 * p + 1] = raw[q + 2]; full[3 * p + 2] = raw[q + 3];
                if (p + 1 < pixels) { full[3 * p + 3] = raw[q + 1]; full[3 * p + 4] = raw[q + 2]; full[3 * p + 5] = raw[q + 3]; }
            }
            return Finish(new DicomFrame(Columns, Rows, 3, full, "YBR_FULL"), "YBR_FULL", HighBit + 1 - BitsStored);
        }
        if (SamplesPerPixel == 3 && PlanarConfiguration == 1)
        {
            var inter = new int[raw.Length];
            for (int p = 0; p < pixels; p++)
                for (int c = 0; c < 3; c++) inter[3 * p + c] = raw[c * pixels + p];
            raw = inter;
        }
        return Finish(new DicomFrame(Columns, Rows, SamplesPerPixel, raw, Photometric), Photometric, HighBit + 1 - BitsStored);
    }

    /// <summary>Checks the decoded size against the header, keeps the stored bits and sign-extends them.</summary>
    DicomFrame Finish(DicomFrame f, string photometric, int shift)
    {
        if (f.Width != Columns || f.Height != Rows || f.SamplesPerPixel != SamplesPerPixel)
            throw DicomReader.Invalid(Source, "FrameSizeMismatch", $"a frame decodes to {f.Width}x{f.Height}x{f.SamplesPerPixel} but the header says {Columns}x{Rows}x{SamplesPerPixel}");
        var s = f.Samples;
        int bits = BitsStored;
        if (bits < 32)
        {
            int mask = (1 << bits) - 1, sign = 1 << (bits - 1);
            for (int i = 0; i < s.Length; i++)
            {
                int v = (s[i] >> shift) & mask;
                s[i] = IsSigned && (v & sign) != 0 ? v - (1 << bits) : v;
            }
        }
        return new DicomFrame(f.Width, f.Height, f.SamplesPerPixel, s, photometric);
    }

    void RequirePixels()
    {
        if (!HasPixelData) throw DicomReader.Invalid(Source, "NoPixelData", "has no Pixel Data (7FE0,0010)");
    }
}
