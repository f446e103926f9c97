namespace MedGemma.Engine.Tokenization;

/// <summary>
/// BPE results of recently seen words, looked up by span so a hit allocates nothing. One per
/// thread (the encoder keeps it in a ThreadLocal), so it needs no lock. When full it starts over:
/// text repeats words within a document far more than across a whole corpus.
/// </summary>
internal sealed class WordCache
{
    public const int MaxWordLength = 64;
    const int Slots = 1 << 17;
    const int MaxEntries = Slots / 2;

    readonly string?[] keys = new string?[Slots];
    readonly int[]?[] values = new int[Slots][];
    readonly int[] hashes = new int[Slots];
    int count;

    /// <summary>The cached tokens: ids, then start offsets, then lengths (each a third of the array).</summary>
    public bool TryGet(ReadOnlySpan<char> word, out int[] value)
    {
        var h = string.GetHashCode(word);
        for (var i = h & (Slots - 1); ; i = (i + 1) & (Slots - 1))
        {
            var k = keys[i];
            if (k == null) break;
            if (hashes[i] == h && word.SequenceEqual(k)) { value = values[i]!; return true; }
        }
        value = null!;
        return false;
    }

    public void Add(ReadOnlySpan<char> word, int[] value)
    {
        if (count >= MaxEntries)
        {
            Array.Clear(keys);
            Array.Clear(values);
            count = 0;
        }
        var h = string.GetHashCode(word);
        var i = h & (Slots - 1);
        while (keys[i] != null) i = (i + 1) & (Slots - 1);
        keys[i] = word.ToString();
        values[i] = value;
        hashes[i] = h;
        count++;
    }
}
