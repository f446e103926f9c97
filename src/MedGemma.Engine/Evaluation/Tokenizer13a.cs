using System.Text.RegularExpressions;
using MedGemma.Engine.Tokenization;

namespace MedGemma.Engine.Evaluation;

/// <summary>
/// sacrebleu's default BLEU tokenizer ("13a", mteval-v13a as used by WMT): splits off ASCII punctuation and symbols,
/// periods and commas unless between digits, and a dash after a digit; collapses whitespace.
/// </summary>
internal static partial class Tokenizer13a
{
    // sacrebleu's character class [\{-\~\[-\` -\&\(-\+\:-\@\/], spelled out: { | } ~, [ \ ] ^ _ `, space ! " # $ % &, ( ) * +, : ; < = > ? @, and /.
    [GeneratedRegex(@"([{-~\[-`\u0020-&(-+:-@/])", RegexOptions.CultureInvariant)]
    private static partial Regex Symbols();

    [GeneratedRegex(@"([^0-9])([.,])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaAfterNonDigit();

    [GeneratedRegex(@"([.,])([^0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex PeriodCommaBeforeNonDigit();

    [GeneratedRegex(@"([0-9])(-)", RegexOptions.CultureInvariant)]
    private static partial Regex DashAfterDigit();

    /// <summary>The tokens of <paramref name="line"/>, as <c>BLEU._preprocess_segment</c> then <c>split()</c> give them.</summary>
    public static List<string> Tokenize(string line)
    {
        line = PyText.RStrip(line)
            .Replace("<skipped>", "").Replace("-\n", "").Replace("\n", " ")
            .Replace("&quot;", "\"").Replace("&amp;", "&").Replace("&lt;", "<").Replace("&gt;", ">");
        line = $" {line} ";
        line = Symbols().Replace(line, " $1 ");
        line = PeriodCommaAfterNonDigit().Replace(line, "$1 $2 ");
        line = PeriodCommaBeforeNonDigit().Replace(line, " $1 $2");
        line = DashAfterDigit().Replace(line, "$1 $2 ");
        return PyText.Split(line);
    }
}
