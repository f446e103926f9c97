using System.Text;

namespace MedGemma.Engine.Tokenization;

/// <summary>
/// The few pieces of Python's <c>str</c> that the reference leans on (the chat template's <c>| trim</c>, the caption
/// metrics' tokenizers), so prompts and scores agree on any text: whitespace
/// is what <c>str.isspace</c> says (it counts U+001C–U+001F, which .NET does not), and strings are sequences of code
/// points, not UTF-16 units (an emoji is one character of a chrF n-gram).
/// </summary>
internal static class PyText
{
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\u001c' && c <= '\u001f');

    /// <summary><c>s.split()</c>: runs of whitespace separate, none at either end.</summary>
    public static List<string> Split(string s)
    {
        var parts = new List<string>();
        int start = -1;
        for (int i = 0; i <= s.Length; i++)
        {
            var space = i == s.Length || IsSpace(s[i]);
            if (space && start >= 0)
            {
                parts.Add(s[start..i]);
                start = -1;
            }
            else if (!space && start < 0) start = i;
        }
        return parts;
    }

    /// <summary><c>s.strip()</c> (Jinja's <c>trim</c>).</summary>
    public static string Strip(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsSpace(s[start])) start++;
        while (end > start && IsSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary><c>s.rstrip()</c>.</summary>
    public static string RStrip(string s)
    {
        var end = s.Length;
        while (end > 0 && IsSpace(s[end - 1])) end--;
        return s[..end];
    }

    /// <summary>The code points of <paramref name="s"/> as strings (a surrogate pair stays one element).</summary>
    public static string[] CodePoints(string s)
    {
        var points = new List<string>(s.Length);
        foreach (var rune in s.EnumerateRunes()) points.Add(rune.ToString());
        return points.ToArray();
    }

    /// <summary>Python's <c>s.lower()</c> as far as ASCII letters and digits go: the only other code points that lower to one are U+0130 (to "i" and a combining dot) and U+212A (to "k").</summary>
    public static string LowerForAsciiMatch(string s)
    {
        var b = new StringBuilder(s.Length);
        foreach (var c in s)
            b.Append(c switch
            {
                >= 'A' and <= 'Z' => (char)(c + 32),
                '\u212a' => 'k',
                '\u0130' => "i\u0307",
                _ => c.ToString(),
            });
        return b.ToString();
    }
}
