using System.Reflection;

namespace MedGemma.Engine.Imaging;

/// <summary>
/// The registry of extra <see cref="IImageDecoder"/>s. Every public non-abstract implementation with a parameterless
/// constructor in the engine assembly is registered on first use (that is how the DICOM reader plugs in);
/// <see cref="Register"/> adds others. Reads are lock-free (an immutable array swapped on write).
/// </summary>
public static class ImageDecoders
{
    /// <summary>How many leading bytes <see cref="IImageDecoder.CanDecode"/> gets: DICOM needs 132 ("DICM" at 128).</summary>
    public const int HeaderLength = 1024;

    static readonly object Gate = new();
    static IImageDecoder[]? decoders;

    /// <summary>The registered decoders, built-in ones first.</summary>
    public static IReadOnlyList<IImageDecoder> All => decoders ?? Discover();

    /// <summary>Adds a decoder (checked before ImageSharp's formats). Replaces a registered one with the same <see cref="IImageDecoder.Format"/>.</summary>
    public static void Register(IImageDecoder decoder)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        lock (Gate)
        {
            var list = (decoders ?? Discover()).Where(d => !string.Equals(d.Format, decoder.Format, StringComparison.OrdinalIgnoreCase)).ToList();
            list.Add(decoder);
            decoders = list.ToArray();
        }
    }

    /// <summary>The first decoder that claims <paramref name="header"/>, or null.</summary>
    public static IImageDecoder? Find(ReadOnlySpan<byte> header)
    {
        foreach (var d in All)
            if (d.CanDecode(header)) return d;
        return null;
    }

    /// <summary>True when the header has the DICOM Part 10 preamble: "DICM" at offset 128.</summary>
    public static bool IsDicomPart10(ReadOnlySpan<byte> header) =>
        header.Length >= 132 && header[128] == (byte)'D' && header[129] == (byte)'I' && header[130] == (byte)'C' && header[131] == (byte)'M';

    static IImageDecoder[] Discover()
    {
        lock (Gate)
        {
            if (decoders != null) return decoders;
            var found = new List<IImageDecoder>();
            Type?[] types;
            // Types that derive from a dependency that cannot load (e.g. TorchSharp missing in a trimmed host) are skipped.
            try { types = typeof(ImageDecoders).Assembly.GetTypes(); }
            catch (ReflectionTypeLoadException e) { types = e.Types; }
            foreach (var t in types)
            {
                if (t == null || t.IsAbstract || t.IsInterface || !typeof(IImageDecoder).IsAssignableFrom(t)) continue;
                if (t.GetConstructor(BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes) == null) continue;
                found.Add((IImageDecoder)Activator.CreateInstance(t)!);
            }
            found.Sort((a, b) => string.CompareOrdinal(a.GetType().FullName, b.GetType().FullName));
            decoders = found.ToArray();
            return decoders;
        }
    }
}
