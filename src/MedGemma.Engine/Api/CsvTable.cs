using System.Text;

namespace MedGemma.Engine.Api;

/// <summary>
/// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks, which radiology captions do.
/// The first row is the header; names are matched case-insensitively.
/// </summary>
internal sealed class CsvTable
{
    public IReadOnlyList<string> Header { get; }
    /// <summary>Data rows with the 1-based line each starts on, for error messages.</summary>
    public IReadOnlyList<(int Line, string[] Fields)> Rows { get; }

    CsvTable(IReadOnlyList<string> header, IReadOnlyList<(int, string[])> rows) { Header = header; Rows = rows; }

    public int Column(params string[] names)
    {
        foreach (var name in names)
            for (int i = 0; i < Header.Count; i++)
                if (string.Equals(Header[i].Trim(), name, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    public static CsvTable Parse(string text, string source)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var records = new List<(int, string[])>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, fieldStarted = false;
        int line = 1, recordLine = 1;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else quoted = false;
                }
                else
                {
                    if (c == '\n') line++;
                    field.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0 && !fieldStarted:
                    quoted = true; fieldStarted = true; break;
                case ',':
                    fields.Add(field.ToString()); field.Clear(); fieldStarted = false; break;
                case '\r':
                    break;
                case '\n':
                    fields.Add(field.ToString()); field.Clear(); fieldStarted = false;
                    if (!(fields.Count == 1 && fields[0].Length == 0)) records.Add((recordLine, fields.ToArray()));
                    fields.Clear(); line++; recordLine = line;
                    break;
                default:
                    field.Append(c); fieldStarted = true; break;
            }
        }
        if (quoted) throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "UnterminatedCsvQuote",
            $"{source}: a quoted field opened on line {recordLine} is never closed.", source);
        if (field.Length > 0 || fields.Count > 0 || fieldStarted)
        {
            fields.Add(field.ToString());
            records.Add((recordLine, fields.ToArray()));
        }
        if (records.Count == 0) throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "EmptyCsv", $"{source} is empty (expected a header line 'image,caption').", source);
        return new CsvTable(records[0].Item2, records.Skip(1).ToList());
    }
}
