namespace MedGemma.Engine.Tokenization;

/// <summary>
/// Vocabulary lookup by character span (the engine targets net8.0, whose Dictionary has no span
/// lookup), so resolving half a million merges at load allocates no strings.
/// </summary>
internal sealed class VocabIndex
{
    readonly string?[] keys;
    readonly int[] ids;
    readonly int[] hashes;
    readonly int mask;

    public VocabIndex(Dictionary<string, int> vocab)
    {
        var size = 1;
        while (size < vocab.Count * 2) size <<= 1;
        keys = new string?[size];
        ids = new int[size];
        hashes = new int[size];
        mask = size - 1;
        foreach (var (token, id) in vocab)
        {
            var h = Hash(token);
            var i = h & mask;
            while (keys[i] != null) i = (i + 1) & mask;
            keys[i] = token;
            ids[i] = id;
            hashes[i] = h;
        }
    }

    // FNV-1a: the keys are the file's own tokens, so a fast unseeded hash is safe here and
    // noticeably quicker than string hashing for 1.5 million lookups at load.
    static int Hash(ReadOnlySpan<char> s)
    {
        var h = 2166136261u;
        foreach (var c in s) h = (h ^ c) * 16777619u;
        return (int)(h ^ (h >> 15));
    }

    /// <summary>The id of <paramref name="token"/>, or -1.</summary>
    public int Find(ReadOnlySpan<char> token)
    {
        var h = Hash(token);
        for (var i = h & mask; ; i = (i + 1) & mask)
        {
            var k = keys[i];
            if (k == null) return -1;
            if (hashes[i] == h && token.SequenceEqual(k)) return ids[i];
        }
    }
}
