using System.Text;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// Hugging Face BPE on one word: characters (code points) looked up in the vocabulary, unknown ones
/// spelled as &lt;0xXX&gt; UTF-8 byte tokens (byte_fallback) or &lt;unk&gt; (fused when fuse_unk),
/// then merges applied lowest rank first, leftmost first on ties — the order of tokenizers'
/// <c>Word::merge_all</c>, so ids match the reference exactly.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Past this many symbols the O(n) scan per merge loses to a heap (long words without spaces, e.g. CJK). Tests set 0 to run the heap always.</summary>
    internal int HeapThreshold { get; set; } = 96;

    readonly int[] bmpIds;
    readonly Dictionary<int, int> astralIds = new();
    readonly int[]? byteIds;
    readonly MergeTable merges; // (left << 32 | right) -> (rank << 32 | newId)
    readonly int unkId;
    readonly bool fuseUnk;

    public Dictionary<string, int> Vocab { get; }
    public bool IgnoreMerges { get; }

    public BpeModel(HfTokenizerDefinition def)
    {
        Vocab = def.Vocab;
        IgnoreMerges = def.IgnoreMerges;
        fuseUnk = def.FuseUnk;
        unkId = def.UnkToken != null && Vocab.TryGetValue(def.UnkToken, out var u) ? u : -1;

        bmpIds = new int[char.MaxValue + 1];
        Array.Fill(bmpIds, -1);
        foreach (var (token, id) in Vocab)
        {
            if (token.Length == 1) bmpIds[token[0]] = id;
            else if (token.Length == 2 && char.IsSurrogatePair(token[0], token[1])) astralIds[char.ConvertToUtf32(token[0], token[1])] = id;
        }
        if (def.ByteFallback)
        {
            byteIds = new int[256];
            for (var b = 0; b < 256; b++) byteIds[b] = Vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
        }

        merges = new MergeTable(def.Merges.Count);
        for (var rank = 0; rank < def.Merges.Count; rank++)
        {
            var (l, r, merged) = def.Merges[rank];
            // A repeated pair takes its last rank, as tokenizers' collect() into a HashMap does.
            merges.Set(Key(l, r), ((long)rank << 32) | (uint)merged);
        }
    }

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>The id of one code point, or -1.</summary>
    public int CharId(ReadOnlySpan<char> codePoint) =>
        codePoint.Length == 1 ? bmpIds[codePoint[0]]
        : astralIds.TryGetValue(char.ConvertToUtf32(codePoint[0], codePoint[1]), out var id) ? id : -1;

    /// <summary>
    /// Tokenizes one word; the result is left in <paramref name="s"/> (OutIds, OutStart, OutLength,
    /// offsets in chars relative to the word) and its length returned.
    /// </summary>
    public int Tokenize(ReadOnlySpan<char> w, BpeScratch s)
    {
        if (IgnoreMerges && Vocab.TryGetValue(w.ToString(), out var whole))
        {
            s.Ensure(1);
            s.Id[0] = whole; s.Start[0] = 0; s.Len[0] = w.Length; s.Next[0] = -1;
            return s.Compact(1);
        }

        s.Ensure(w.Length * 3 + 1); // UTF-8 needs at most 3 bytes per UTF-16 char
        var n = 0;
        int pendingUnkStart = -1, pendingUnkLen = 0;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < w.Length;)
        {
            var cpLen = char.IsHighSurrogate(w[i]) && i + 1 < w.Length && char.IsLowSurrogate(w[i + 1]) ? 2 : 1;
            var id = CharId(w.Slice(i, cpLen));
            if (id >= 0)
            {
                if (pendingUnkStart >= 0) { Add(s, ref n, unkId, pendingUnkStart, pendingUnkLen); pendingUnkStart = -1; }
                Add(s, ref n, id, i, cpLen);
            }
            else if (byteIds != null && TryBytes(w.Slice(i, cpLen), utf8, out var byteCount))
            {
                // As in tokenizers, a pending <unk> is not flushed before byte tokens.
                for (var b = 0; b < byteCount; b++) Add(s, ref n, byteIds[utf8[b]], i, cpLen);
            }
            else if (unkId >= 0)
            {
                if (pendingUnkStart >= 0 && fuseUnk) pendingUnkLen += cpLen;
                else
                {
                    if (pendingUnkStart >= 0) Add(s, ref n, unkId, pendingUnkStart, pendingUnkLen);
                    pendingUnkStart = i; pendingUnkLen = cpLen;
                }
            }
            // No unk token and no byte for it: tokenizers drops the character; so do we.
            i += cpLen;
        }
        if (pendingUnkStart >= 0) Add(s, ref n, unkId, pendingUnkStart, pendingUnkLen);

        if (n > 1)
        {
            if (n <= HeapThreshold) MergeByScan(s, n);
            else MergeByHeap(s, n);
        }
        return s.Compact(n);
    }

    bool TryBytes(ReadOnlySpan<char> cp, Span<byte> utf8, out int count)
    {
        // A lone surrogate cannot be UTF-8; it becomes U+FFFD as .NET's encoder writes it.
        count = Encoding.UTF8.GetBytes(cp, utf8);
        for (var b = 0; b < count; b++) if (byteIds![utf8[b]] < 0) return false;
        return true;
    }

    static void Add(BpeScratch s, ref int n, int id, int start, int len)
    {
        s.Id[n] = id; s.Start[n] = start; s.Len[n] = len;
        s.Prev[n] = n - 1; s.Next[n] = -1;
        if (n > 0) s.Next[n - 1] = n;
        s.Alive[n] = true;
        n++;
    }

    long Lookup(int left, int right) => merges.Get(Key(left, right), long.MaxValue);

    void MergeByScan(BpeScratch s, int n)
    {
        // Pair[k] caches the merge of symbol k with its right neighbour (long.MaxValue: none).
        for (var k = 0; k < n - 1; k++) s.Pair[k] = Lookup(s.Id[k], s.Id[k + 1]);
        s.Pair[n - 1] = long.MaxValue;
        while (true)
        {
            var best = -1;
            var bestRank = long.MaxValue;
            for (var k = 0; k >= 0; k = s.Next[k])
            {
                // The rank is the upper half, so this compares ranks; strict '<' keeps the leftmost on ties.
                if (s.Pair[k] < bestRank) { best = k; bestRank = s.Pair[k]; }
            }
            if (best < 0) return;
            var right = MergeAt(s, best, (int)(bestRank & 0xFFFFFFFF));
            s.Pair[best] = right >= 0 ? Lookup(s.Id[best], s.Id[right]) : long.MaxValue;
            var p = s.Prev[best];
            if (p >= 0) s.Pair[p] = Lookup(s.Id[p], s.Id[best]);
        }
    }

    void MergeByHeap(BpeScratch s, int n)
    {
        var heap = s.Heap;
        heap.Clear();
        for (var k = 0; k < n - 1; k++) Push(heap, k, Lookup(s.Id[k], s.Id[k + 1]));
        while (heap.Count > 0)
        {
            var (rankKey, newId) = heap.Dequeue();
            var pos = (int)(rankKey & 0xFFFFFFFF);
            if (!s.Alive[pos] || s.Next[pos] < 0) continue;
            // Stale entry: the pair at pos changed since it was queued.
            var current = Lookup(s.Id[pos], s.Id[s.Next[pos]]);
            if (current == long.MaxValue || (int)(current & 0xFFFFFFFF) != newId) continue;
            var right = MergeAt(s, pos, newId);
            if (right >= 0) Push(heap, pos, Lookup(s.Id[pos], s.Id[right]));
            var p = s.Prev[pos];
            if (p >= 0) Push(heap, p, Lookup(s.Id[p], s.Id[pos]));
        }
    }

    static void Push(PriorityQueue<(long, int), long> heap, int pos, long merge)
    {
        if (merge == long.MaxValue) return;
        // Priority = rank, then position: the same order as tokenizers' BinaryHeap<Merge>.
        var key = (merge & ~0xFFFFFFFFL) | (uint)pos;
        heap.Enqueue((key, (int)(merge & 0xFFFFFFFF)), key);
    }

    /// <summary>Merges symbol k with its right neighbour into newId; returns k's new right neighbour.</summary>
    static int MergeAt(BpeScratch s, int k, int newId)
    {
        var j = s.Next[k];
        s.Id[k] = newId;
        s.Len[k] = s.Start[j] + s.Len[j] - s.Start[k];
        s.Alive[j] = false;
        var after = s.Next[j];
        s.Next[k] = after;
        if (after >= 0) s.Prev[after] = k;
        return after;
    }
}

/// <summary>Per-thread working arrays for <see cref="BpeModel"/>, reused so encoding does not allocate.</summary>
internal sealed class BpeScratch
{
    public int[] Id = new int[64], Start = new int[64], Len = new int[64], Prev = new int[64], Next = new int[64];
    public long[] Pair = new long[64];
    public bool[] Alive = new bool[64];
    public int[] OutIds = new int[64], OutStart = new int[64], OutLen = new int[64];
    public readonly PriorityQueue<(long, int), long> Heap = new();

    public void Ensure(int n)
    {
        if (Id.Length >= n) return;
        var size = Math.Max(n, Id.Length * 2);
        Id = new int[size]; Start = new int[size]; Len = new int[size]; Prev = new int[size]; Next = new int[size];
        Pair = new long[size]; Alive = new bool[size];
        OutIds = new int[size]; OutStart = new int[size]; OutLen = new int[size];
    }

    /// <summary>Copies the live symbols (in order) to OutIds/OutStart/OutLen; returns their count.</summary>
    public int Compact(int n)
    {
        if (n == 0) return 0;
        var count = 0;
        for (var k = 0; k >= 0; k = Next[k])
        {
            OutIds[count] = Id[k]; OutStart[count] = Start[k]; OutLen[count] = Len[k];
            count++;
        }
        return count;
    }
}
