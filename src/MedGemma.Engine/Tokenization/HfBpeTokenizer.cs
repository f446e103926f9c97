using System.Buffers;
using Microsoft.ML.Tokenizers;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json BPE tokenizer (byte fallback, fuse_unk, ignore_merges, added-token
/// splitting, Replace/Prepend normalizers, string Split pre-tokenizer, TemplateProcessing) as a
/// Microsoft.ML.Tokenizers <see cref="Tokenizer"/>. Microsoft.ML.Tokenizers 2.0.1's own
/// BpeTokenizer has no byte fallback and other pre-tokenizers, so it cannot reproduce Gemma's ids.
/// Offsets of encoded tokens index the ORIGINAL text (NormalizedText is always null).
/// Thread-safe: each thread gets its own word cache and scratch buffers.
/// </summary>
public sealed class HfBpeTokenizer : Tokenizer
{
    readonly BpeModel model;
    readonly AddedTokenMatcher added;
    readonly string[] idToToken;
    readonly bool[] isSpecial;
    readonly List<NormalizerStep> normalizer;
    readonly SplitPreTokenizer? preTokenizer;
    readonly TokenDecoder decoder;
    readonly int[] prefixIds, suffixIds;
    readonly Dictionary<string, int> addedIds = new(StringComparer.Ordinal);
    readonly ThreadLocal<EncoderState> state;

    // Word splitting before "▁" (see SplitsBefore) — exact only when no merge can join across it.
    const char Meta = '\u2581';
    readonly bool splitAtMeta;
    readonly bool[] riskyBeforeMeta = new bool[char.MaxValue + 1];

    /// <summary>Turns the exact word-splitting fast path off (tests compare both ways).</summary>
    internal bool SplitWordsAtMeta { get => splitAtMeta; init => splitAtMeta &= value; }

    /// <summary>Symbols above which BPE uses a heap instead of a scan (tests set 0 to compare both).</summary>
    internal int HeapThreshold { get => model.HeapThreshold; init => model.HeapThreshold = value; }

    /// <summary>When true (the default, as tokenizers' <c>encode</c>), the Tokenizer-API overloads add the template's tokens (Gemma: &lt;bos&gt;).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Reads a tokenizer.json file.</summary>
    public static HfBpeTokenizer FromFile(string tokenizerJsonPath) => new(HfTokenizerDefinition.Load(tokenizerJsonPath), tokenizerJsonPath);

    internal HfBpeTokenizer(HfTokenizerDefinition def, string source)
    {
        model = new BpeModel(def);
        added = new AddedTokenMatcher(def.AddedTokens, source);
        normalizer = def.Normalizer;
        preTokenizer = def.PreTokenizer;
        decoder = new TokenDecoder(def.Decoder);

        var size = Math.Max(def.Vocab.Count == 0 ? 0 : def.Vocab.Values.Max() + 1, def.AddedTokens.Count == 0 ? 0 : def.AddedTokens.Max(a => a.Id) + 1);
        idToToken = new string[size];
        isSpecial = new bool[size];
        foreach (var (token, id) in def.Vocab) idToToken[id] = token;
        foreach (var a in def.AddedTokens)
        {
            idToToken[a.Id] = a.Content;
            isSpecial[a.Id] = a.Special;
            addedIds[a.Content] = a.Id;
        }
        prefixIds = def.TemplatePrefix.Select(t => RequireId(t, source)).ToArray();
        suffixIds = def.TemplateSuffix.Select(t => RequireId(t, source)).ToArray();

        splitAtMeta = def.Vocab.ContainsKey(Meta.ToString()) && !def.IgnoreMerges;
        var vocabById = new string[size];
        foreach (var (token, id) in def.Vocab) vocabById[id] = token;
        foreach (var (li, ri, _) in def.Merges)
        {
            string l = vocabById[li], r = vocabById[ri];
            if (r.Length == 0 || r[0] != Meta || l.Length == 0 || l[^1] == Meta) continue;
            // A merge of "x" + "▁..." makes the boundary before that "▁" unsafe after an "x". A byte or
            // <unk> token on the left could stand for any character, so then no boundary is safe.
            if ((l.Length == 6 && l.StartsWith("<0x", StringComparison.Ordinal)) || l == def.UnkToken) splitAtMeta = false;
            else riskyBeforeMeta[l[^1]] = true;
        }
        state = new ThreadLocal<EncoderState>(() => new EncoderState());
    }

    int RequireId(string token, string source) =>
        TokenToId(token) ?? throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidTokenizerJson",
            $"{source}: post_processor token '{token}' is not in the vocabulary", source);

    /// <summary>Number of ids (vocabulary plus added tokens).</summary>
    public int VocabularySize => idToToken.Length;

    public int? TokenToId(string token) =>
        addedIds.TryGetValue(token, out var a) ? a : model.Vocab.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] : null;

    /// <summary>True for added tokens marked special (&lt;bos&gt;, &lt;start_of_turn&gt;, &lt;image_soft_token&gt;...).</summary>
    public bool IsSpecialToken(int id) => (uint)id < (uint)isSpecial.Length && isSpecial[id];

    /// <summary>Encodes <paramref name="text"/> into <paramref name="ids"/> (appending), as tokenizers' <c>encode(text, add_special_tokens)</c>.</summary>
    public void EncodeToIds(ReadOnlySpan<char> text, bool addSpecialTokens, List<int> ids)
    {
        if (addSpecialTokens) ids.AddRange(prefixIds);
        Encode(text, true, true, ids, null);
        if (addSpecialTokens) ids.AddRange(suffixIds);
    }

    public int[] EncodeToIds(string text, bool addSpecialTokens)
    {
        var ids = state.Value!.Ids;
        ids.Clear();
        EncodeToIds(text.AsSpan(), addSpecialTokens, ids);
        return ids.ToArray();
    }

    // ---- Microsoft.ML.Tokenizers.Tokenizer ----

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var span = text is null ? textSpan : text.AsSpan();
        var ids = new List<int>();
        var offsets = new List<(int Start, int End)>();
        EncodeWithSpecials(span, settings, ids, offsets);
        var count = Truncate(offsets, settings.MaxTokenCount, fromEnd: false);
        var tokens = new List<EncodedToken>(count);
        for (var i = 0; i < count; i++) tokens.Add(new EncodedToken(ids[i], idToToken[ids[i]], new Range(offsets[i].Start, offsets[i].End)));
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = Consumed(offsets, count, span.Length) };
    }

    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var span = text is null ? textSpan : text.AsSpan();
        var ids = new List<int>();
        if (settings.MaxTokenCount <= 0 || settings.MaxTokenCount == int.MaxValue)
        {
            EncodeWithSpecials(span, settings, ids, null);
            return new EncodeResults<int> { Tokens = ids, NormalizedText = null, CharsConsumed = span.Length };
        }
        var offsets = new List<(int Start, int End)>();
        EncodeWithSpecials(span, settings, ids, offsets);
        var count = Truncate(offsets, settings.MaxTokenCount, fromEnd: false);
        return new EncodeResults<int> { Tokens = ids.GetRange(0, count), NormalizedText = null, CharsConsumed = Consumed(offsets, count, span.Length) };
    }

    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var ids = state.Value!.Ids;
        ids.Clear();
        EncodeWithSpecials(text is null ? textSpan : text.AsSpan(), settings, ids, null);
        return settings.MaxTokenCount > 0 ? Math.Min(ids.Count, settings.MaxTokenCount) : ids.Count;
    }

    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd, out string? normalizedText, out int tokenCount)
    {
        var span = text is null ? textSpan : text.AsSpan();
        var ids = new List<int>();
        var offsets = new List<(int Start, int End)>();
        EncodeWithSpecials(span, settings, ids, offsets);
        normalizedText = null;
        tokenCount = Truncate(offsets, settings.MaxTokenCount, fromEnd);
        if (tokenCount == ids.Count) return fromEnd ? 0 : span.Length;
        if (tokenCount == 0) return fromEnd ? span.Length : 0;
        return fromEnd ? offsets[ids.Count - tokenCount].Start : offsets[tokenCount - 1].End;
    }

    public override string Decode(IEnumerable<int> ids) => Decode(ids, skipSpecialTokens: false);

    /// <summary>Decodes as tokenizers' <c>decode(ids, skip_special_tokens)</c>; ids outside the vocabulary are skipped, as there.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens) =>
        string.Concat(decoder.Decode(Tokens(ids, skipSpecialTokens)).Select(p => p.Text));

    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        idsConsumed = 0;
        charsWritten = 0;
        var list = ids as IReadOnlyList<int> ?? ids.ToList();
        // Pieces count input tokens; unknown ids (dropped) are consumed with the piece after them.
        var known = list.Where(id => IdToToken(id) != null).ToList();
        var consumedKnown = 0;
        foreach (var (text, tokens) in decoder.Decode(Tokens(known, false)))
        {
            if (text.Length > destination.Length - charsWritten)
            {
                idsConsumed = IndexAfterKnown(list, consumedKnown);
                return OperationStatus.DestinationTooSmall;
            }
            text.AsSpan().CopyTo(destination[charsWritten..]);
            charsWritten += text.Length;
            consumedKnown += tokens;
        }
        idsConsumed = list.Count;
        return OperationStatus.Done;
    }

    int IndexAfterKnown(IReadOnlyList<int> list, int knownCount)
    {
        var seen = 0;
        for (var i = 0; i < list.Count; i++)
        {
            if (seen == knownCount) return i;
            if (IdToToken(list[i]) != null) seen++;
        }
        return list.Count;
    }

    IEnumerable<string> Tokens(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        foreach (var id in ids)
        {
            var token = IdToToken(id);
            if (token == null || (skipSpecialTokens && isSpecial[id])) continue;
            yield return token;
        }
    }

    // ---- encoding ----

    void EncodeWithSpecials(ReadOnlySpan<char> text, EncodeSettings settings, List<int> ids, List<(int, int)>? offsets)
    {
        if (AddSpecialTokens) Append(prefixIds, ids, offsets, 0);
        Encode(text, settings.ConsiderNormalization, settings.ConsiderPreTokenization, ids, offsets);
        if (AddSpecialTokens) Append(suffixIds, ids, offsets, text.Length);
    }

    static void Append(int[] specials, List<int> ids, List<(int, int)>? offsets, int at)
    {
        foreach (var id in specials)
        {
            ids.Add(id);
            offsets?.Add((at, at));
        }
    }

    static int Consumed(List<(int Start, int End)> offsets, int count, int textLength) =>
        count == offsets.Count ? textLength : count == 0 ? 0 : offsets[count - 1].End;

    /// <summary>How many leading (or trailing) tokens fit in maxTokens without cutting a character's byte tokens apart.</summary>
    static int Truncate(List<(int Start, int End)> offsets, int maxTokens, bool fromEnd)
    {
        if (maxTokens <= 0 || maxTokens >= offsets.Count) return offsets.Count;
        if (!fromEnd)
        {
            var n = maxTokens;
            while (n > 0 && offsets[n].Start < offsets[n - 1].End) n--;
            return n;
        }
        var first = offsets.Count - maxTokens;
        while (first < offsets.Count && first > 0 && offsets[first].Start < offsets[first - 1].End) first++;
        return offsets.Count - first;
    }

    void Encode(ReadOnlySpan<char> text, bool normalize, bool preTokenize, List<int> ids, List<(int, int)>? offsets)
    {
        var st = state.Value!;
        var pos = 0;
        while (pos < text.Length)
        {
            if (!added.FindNext(text, pos, out var start, out var length, out var id))
            {
                EncodeSegment(text[pos..], pos, normalize, preTokenize, st, ids, offsets);
                break;
            }
            if (start > pos) EncodeSegment(text[pos..start], pos, normalize, preTokenize, st, ids, offsets);
            ids.Add(id);
            offsets?.Add((start, start + length));
            pos = start + length;
        }
    }

    void EncodeSegment(ReadOnlySpan<char> segment, int segmentOffset, bool normalize, bool preTokenize, EncoderState st, List<int> ids, List<(int, int)>? offsets)
    {
        var text = normalize && normalizer.Count > 0 ? st.Normalize(segment, normalizer) : segment;
        var mapped = normalize && normalizer.Count > 0;
        if (!preTokenize || preTokenizer == null)
        {
            EncodeWord(text, 0, st, ids, offsets, segmentOffset, mapped);
            return;
        }
        var pattern = preTokenizer.Pattern.AsSpan();
        var behavior = preTokenizer.Behavior;
        var pieceStart = 0;
        var pos = 0;
        while (true)
        {
            var found = pattern.Length == 0 ? -1 : text[pos..].IndexOf(pattern);
            if (found < 0) break;
            var m = pos + found;
            var mEnd = m + pattern.Length;
            switch (behavior)
            {
                case SplitBehavior.Removed:
                    EncodeWord(text[pieceStart..m], pieceStart, st, ids, offsets, segmentOffset, mapped);
                    pieceStart = mEnd;
                    break;
                case SplitBehavior.Isolated:
                    EncodeWord(text[pieceStart..m], pieceStart, st, ids, offsets, segmentOffset, mapped);
                    EncodeWord(text[m..mEnd], m, st, ids, offsets, segmentOffset, mapped);
                    pieceStart = mEnd;
                    break;
                case SplitBehavior.MergedWithPrevious:
                    EncodeWord(text[pieceStart..mEnd], pieceStart, st, ids, offsets, segmentOffset, mapped);
                    pieceStart = mEnd;
                    break;
                case SplitBehavior.MergedWithNext:
                    EncodeWord(text[pieceStart..m], pieceStart, st, ids, offsets, segmentOffset, mapped);
                    pieceStart = m;
                    break;
            }
            pos = mEnd;
        }
        EncodeWord(text[pieceStart..], pieceStart, st, ids, offsets, segmentOffset, mapped);
    }

    /// <summary>
    /// BPE on one pre-tokenized word. Gemma's pre-tokenizer splits on " " AFTER " " became "▁", so a
    /// whole segment reaches the model as one word. Splitting it before each "▁" that follows a
    /// non-"▁" is exact when no merge can join across that point (checked from the merges at load,
    /// see riskyBeforeMeta) and turns one long word into short, cacheable ones.
    /// </summary>
    void EncodeWord(ReadOnlySpan<char> word, int wordOffset, EncoderState st, List<int> ids, List<(int, int)>? offsets, int segmentOffset, bool mapped)
    {
        if (word.IsEmpty) return;
        var start = 0;
        if (splitAtMeta)
        {
            for (var i = 1; i < word.Length; i++)
            {
                if (word[i] != Meta || word[i - 1] == Meta || riskyBeforeMeta[word[i - 1]]) continue;
                EncodePiece(word[start..i], wordOffset + start, st, ids, offsets, segmentOffset, mapped);
                start = i;
            }
        }
        EncodePiece(word[start..], wordOffset + start, st, ids, offsets, segmentOffset, mapped);
    }

    void EncodePiece(ReadOnlySpan<char> piece, int pieceOffset, EncoderState st, List<int> ids, List<(int, int)>? offsets, int segmentOffset, bool mapped)
    {
        int[] cached;
        if (piece.Length > WordCache.MaxWordLength || !st.Cache.TryGet(piece, out cached))
        {
            var n = model.Tokenize(piece, st.Bpe);
            cached = new int[n * 3];
            Array.Copy(st.Bpe.OutIds, 0, cached, 0, n);
            Array.Copy(st.Bpe.OutStart, 0, cached, n, n);
            Array.Copy(st.Bpe.OutLen, 0, cached, 2 * n, n);
            if (piece.Length <= WordCache.MaxWordLength) st.Cache.Add(piece, cached);
        }
        var count = cached.Length / 3;
        for (var k = 0; k < count; k++) ids.Add(cached[k]);
        if (offsets == null) return;
        for (var k = 0; k < count; k++)
        {
            var a = pieceOffset + cached[count + k];
            var b = a + cached[2 * count + k];
            offsets.Add(mapped
                ? (segmentOffset + st.MapStart[a], segmentOffset + (b > a ? st.MapEnd[b - 1] : st.MapStart[a]))
                : (segmentOffset + a, segmentOffset + b));
        }
    }

    /// <summary>Per-thread buffers: normalized text with its map back to the original, BPE scratch, word cache.</summary>
    sealed class EncoderState
    {
        public readonly WordCache Cache = new();
        public readonly BpeScratch Bpe = new();
        public readonly List<int> Ids = new();
        char[] norm = new char[256], swap = new char[256];
        public int[] MapStart = new int[256], MapEnd = new int[256];
        int[] swapStart = new int[256], swapEnd = new int[256];

        public ReadOnlySpan<char> Normalize(ReadOnlySpan<char> segment, List<NormalizerStep> steps)
        {
            var len = segment.Length;
            Ensure(len);
            segment.CopyTo(norm);
            for (var i = 0; i < len; i++) { MapStart[i] = i; MapEnd[i] = i + 1; }
            foreach (var step in steps)
            {
                if (step.Kind == NormalizerKind.Prepend)
                {
                    // tokenizers' Prepend leaves an empty string empty.
                    if (len == 0) continue;
                    var p = step.Content.Length;
                    Ensure(len + p);
                    Array.Copy(norm, 0, norm, p, len);
                    Array.Copy(MapStart, 0, MapStart, p, len);
                    Array.Copy(MapEnd, 0, MapEnd, p, len);
                    for (var i = 0; i < p; i++) { norm[i] = step.Content[i]; MapStart[i] = 0; MapEnd[i] = 0; }
                    len += p;
                }
                else if (step.Pattern.Length == 1 && step.Content.Length == 1)
                {
                    // The Gemma case (" " -> "▁"): length-preserving, in place.
                    char from = step.Pattern[0], to = step.Content[0];
                    norm.AsSpan(0, len).Replace(from, to);
                }
                else len = ReplaceGeneral(len, step.Pattern, step.Content);
            }
            return norm.AsSpan(0, len);
        }

        int ReplaceGeneral(int len, string pattern, string content)
        {
            if (pattern.Length == 0) return len;
            var outLen = 0;
            var worst = content.Length > pattern.Length ? len / pattern.Length * content.Length + len : len;
            if (swap.Length < worst) { swap = new char[worst]; swapStart = new int[worst]; swapEnd = new int[worst]; }
            for (var i = 0; i < len;)
            {
                if (i + pattern.Length <= len && norm.AsSpan(i, pattern.Length).SequenceEqual(pattern))
                {
                    int s = MapStart[i], e = MapEnd[i + pattern.Length - 1];
                    foreach (var c in content) { swap[outLen] = c; swapStart[outLen] = s; swapEnd[outLen] = e; outLen++; }
                    i += pattern.Length;
                }
                else { swap[outLen] = norm[i]; swapStart[outLen] = MapStart[i]; swapEnd[outLen] = MapEnd[i]; outLen++; i++; }
            }
            (norm, swap) = (swap, norm);
            (MapStart, swapStart) = (swapStart, MapStart);
            (MapEnd, swapEnd) = (swapEnd, MapEnd);
            return outLen;
        }

        void Ensure(int n)
        {
            if (norm.Length >= n) return;
            var size = Math.Max(n, norm.Length * 2);
            Array.Resize(ref norm, size);
            Array.Resize(ref MapStart, size);
            Array.Resize(ref MapEnd, size);
            swap = new char[size]; swapStart = new int[size]; swapEnd = new int[size];
        }
    }
}
