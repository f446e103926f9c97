using System.Text;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// tokenizer.json's decoder chain (Replace "▁"→" ", ByteFallback, Fuse, Strip), step for step as
/// tokenizers applies it. Each output piece remembers how many input tokens it came from so a
/// caller decoding into a fixed buffer can stop at a token boundary.
/// </summary>
internal sealed class TokenDecoder
{
    readonly List<DecoderStep> steps;

    public TokenDecoder(List<DecoderStep> steps) => this.steps = steps;

    public List<(string Text, int Tokens)> Decode(IEnumerable<string> tokens)
    {
        var pieces = tokens.Select(t => (Text: t, Tokens: 1)).ToList();
        for (var s = 0; s < steps.Count; s++)
        {
            var step = steps[s];
            switch (step.Kind)
            {
                case DecoderKind.Replace:
                    for (var i = 0; i < pieces.Count; i++) pieces[i] = (pieces[i].Text.Replace(step.Pattern, step.Content, StringComparison.Ordinal), pieces[i].Tokens);
                    break;
                case DecoderKind.ByteFallback:
                    pieces = ByteFallback(pieces);
                    break;
                case DecoderKind.Fuse:
                    // Fuse only concatenates; as the last step the caller's concatenation does the same
                    // and the per-token boundaries survive.
                    if (s < steps.Count - 1 && pieces.Count > 0)
                        pieces = [(string.Concat(pieces.Select(p => p.Text)), pieces.Sum(p => p.Tokens))];
                    break;
                case DecoderKind.Strip:
                    for (var i = 0; i < pieces.Count; i++) pieces[i] = (Strip(pieces[i].Text, step.Pattern, step.Start, step.Stop), pieces[i].Tokens);
                    break;
            }
        }
        return pieces;
    }

    static List<(string, int)> ByteFallback(List<(string Text, int Tokens)> pieces)
    {
        var result = new List<(string, int)>(pieces.Count);
        var bytes = new List<byte>();
        var byteTokens = 0;
        void Flush()
        {
            if (bytes.Count == 0) return;
            try
            {
                result.Add((new UTF8Encoding(false, true).GetString(bytes.ToArray()), byteTokens));
            }
            catch (DecoderFallbackException)
            {
                // tokenizers emits one U+FFFD per byte when the bytes are not valid UTF-8.
                for (var i = 0; i < bytes.Count; i++) result.Add(("\uFFFD", i == 0 ? byteTokens - bytes.Count + 1 : 1));
            }
            bytes.Clear();
            byteTokens = 0;
        }
        foreach (var (text, tokens) in pieces)
        {
            if (text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>' &&
                byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
            {
                bytes.Add(b);
                byteTokens += tokens;
            }
            else
            {
                Flush();
                result.Add((text, tokens));
            }
        }
        Flush();
        return result;
    }

    static string Strip(string s, string content, int start, int stop)
    {
        var c = content.Length == 1 ? content[0] : ' ';
        int a = 0, e = s.Length;
        for (var i = 0; i < start && a < e && s[a] == c; i++) a++;
        for (var i = 0; i < stop && e > a && s[e - 1] == c; i++) e--;
        return s[a..e];
    }
}
