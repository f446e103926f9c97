namespace MedGemma.Engine.Imaging.Dicom;

/// <summary>Recognises DICOM Part-10 files: a 128-byte preamble followed by "DICM".</summary>
public static class DicomFile
{
    public const int PreambleLength = 128;

    /// <summary>True when the file starts with a 128-byte preamble and the "DICM" prefix. Never throws for unreadable files.</summary>
    public static bool IsDicom(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            Span<byte> head = stackalloc byte[PreambleLength + 4];
            return f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) == head.Length && IsDicom(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>True when <paramref name="head"/> (at least the first 132 bytes) has "DICM" at offset 128.</summary>
    public static bool IsDicom(ReadOnlySpan<byte> head) =>
        head.Length >= PreambleLength + 4 && head.Slice(PreambleLength, 4).SequenceEqual("DICM"u8);
}
