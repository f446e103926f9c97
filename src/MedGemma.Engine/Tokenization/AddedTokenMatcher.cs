namespace MedGemma.Engine.Tokenization;

/// <summary>
/// Finds added tokens (&lt;start_of_turn&gt;, &lt;image_soft_token&gt;, "\n\n"...) in raw text before
/// normalization, the way Hugging Face's AddedVocabulary does for non-normalized tokens:
/// leftmost match first, the longest one at that position.
/// </summary>
internal sealed class AddedTokenMatcher
{
    sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public int TokenId = -1;
        public int Length;
    }

    readonly Node root = new();
    // Most characters never start an added token; this lets the scan skip them with one load.
    readonly bool[] isFirstChar = new bool[char.MaxValue + 1];

    public int Count { get; }

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens, string source)
    {
        foreach (var t in tokens)
        {
            if (t.Content.Length == 0) continue;
            if (t.Normalized || t.LStrip || t.RStrip || t.SingleWord)
                throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedTokenizer",
                    $"{source}: added token '{t.Content}' uses normalized/lstrip/rstrip/single_word matching, which the engine does not implement", source);
            var node = root;
            foreach (var c in t.Content)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var next)) node.Children[c] = next = new Node();
                node = next;
            }
            node.TokenId = t.Id;
            node.Length = t.Content.Length;
            isFirstChar[t.Content[0]] = true;
            Count++;
        }
    }

    /// <summary>The next added token at or after <paramref name="from"/>: its start, length and id; false if none.</summary>
    public bool FindNext(ReadOnlySpan<char> text, int from, out int start, out int length, out int id)
    {
        for (var i = from; i < text.Length; i++)
        {
            if (!isFirstChar[text[i]]) continue;
            var node = root;
            int bestLen = 0, bestId = -1;
            for (var j = i; j < text.Length; j++)
            {
                if (node.Children == null || !node.Children.TryGetValue(text[j], out node)) break;
                if (node.TokenId >= 0) { bestLen = node.Length; bestId = node.TokenId; }
            }
            if (bestId >= 0)
            {
                start = i; length = bestLen; id = bestId;
                return true;
            }
        }
        start = length = 0; id = -1;
        return false;
    }
}
