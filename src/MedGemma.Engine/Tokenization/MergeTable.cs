namespace MedGemma.Engine.Tokenization;

/// <summary>
/// BPE merges by (left id, right id): an open-addressing table of longs, which builds and probes
/// several times faster than a Dictionary for half a million entries (looked up for every symbol pair).
/// </summary>
internal sealed class MergeTable
{
    const long Empty = -1; // keys are (left << 32 | right) of non-negative ids, never -1

    readonly long[] keys;
    readonly long[] values;
    readonly int shift;
    readonly int mask;

    public MergeTable(int count)
    {
        var bits = 1;
        while ((1 << bits) < count * 2) bits++;
        keys = new long[1 << bits];
        values = new long[1 << bits];
        Array.Fill(keys, Empty);
        shift = 64 - bits;
        mask = (1 << bits) - 1;
    }

    int Slot(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> shift);

    /// <summary>Sets the value of a key (a later value replaces an earlier one).</summary>
    public void Set(long key, long value)
    {
        var i = Slot(key);
        while (keys[i] != Empty && keys[i] != key) i = (i + 1) & mask;
        keys[i] = key;
        values[i] = value;
    }

    /// <summary>The value of <paramref name="key"/>, or <paramref name="missing"/>.</summary>
    public long Get(long key, long missing)
    {
        for (var i = Slot(key); ; i = (i + 1) & mask)
        {
            var k = keys[i];
            if (k == key) return values[i];
            if (k == Empty) return missing;
        }
    }
}
