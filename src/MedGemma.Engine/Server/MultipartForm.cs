using System.Text;

namespace MedGemma.Engine.Server;

/// <summary>One part of a multipart/form-data body.</summary>
public sealed record FormPart(string Name, string? FileName, string? ContentType, byte[] Content)
{
    public string Text => Encoding.UTF8.GetString(Content);
}

/// <summary>
/// A multipart/form-data body parsed in memory (RFC 7578). Uploads never touch the disk, so nothing
/// from a patient's image is left behind in a temp folder.
/// </summary>
public sealed class MultipartForm
{
    public IReadOnlyList<FormPart> Parts { get; }

    MultipartForm(IReadOnlyList<FormPart> parts) => Parts = parts;

    public IEnumerable<FormPart> Files => Parts.Where(p => p.FileName is not null);

    /// <summary>The last non-file field with this name, or null.</summary>
    public string? Field(string name) => Parts.LastOrDefault(p => p.FileName is null && p.Name == name)?.Text;

    /// <summary>The boundary from a Content-Type header, or null when it is not multipart/form-data.</summary>
    public static string? Boundary(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase)) return null;
        foreach (var p in contentType.Split(';').Skip(1))
        {
            var kv = p.Trim();
            if (kv.StartsWith("boundary=", StringComparison.OrdinalIgnoreCase))
            {
                var b = kv[9..].Trim('"');
                return b.Length is > 0 and <= 70 ? b : null;
            }
        }
        return null;
    }

    /// <exception cref="MedGemmaException">InvalidData when the body is not well-formed multipart.</exception>
    public static MultipartForm Parse(ReadOnlySpan<byte> body, string boundary)
    {
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        var parts = new List<FormPart>();
        var pos = body.IndexOf(delimiter);
        if (pos < 0) throw Bad("no boundary found");
        pos += delimiter.Length;
        while (true)
        {
            if (body[pos..].StartsWith("--"u8)) break; // closing delimiter
            if (!body[pos..].StartsWith("\r\n"u8)) throw Bad("boundary not followed by CRLF");
            pos += 2;
            var headerEnd = body[pos..].IndexOf("\r\n\r\n"u8);
            if (headerEnd < 0) throw Bad("part headers not terminated");
            var headers = Encoding.UTF8.GetString(body.Slice(pos, headerEnd));
            pos += headerEnd + 4;
            // The content ends at CRLF + next delimiter.
            var next = IndexOf(body[pos..], delimiter);
            if (next < 2 || body[pos + next - 2] != '\r' || body[pos + next - 1] != '\n') throw Bad("part not terminated by a boundary");
            var content = body.Slice(pos, next - 2).ToArray();
            parts.Add(MakePart(headers, content));
            pos += next + delimiter.Length;
        }
        return new MultipartForm(parts);
    }

    static int IndexOf(ReadOnlySpan<byte> haystack, byte[] delimiter)
    {
        // A delimiter only counts at the start of a line; file bytes may contain "--boundary" elsewhere only by chance.
        var offset = 0;
        while (true)
        {
            var i = haystack[offset..].IndexOf(delimiter);
            if (i < 0) return -1;
            var at = offset + i;
            if (at >= 2 && haystack[at - 2] == '\r' && haystack[at - 1] == '\n') return at;
            offset = at + 1;
        }
    }

    static FormPart MakePart(string headers, byte[] content)
    {
        string? name = null, fileName = null, contentType = null;
        foreach (var line in headers.Split("\r\n"))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0) continue;
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) contentType = value;
            else if (key.Equals("Content-Disposition", StringComparison.OrdinalIgnoreCase))
            {
                name = Parameter(value, "name");
                fileName = Parameter(value, "filename");
            }
        }
        if (name is null) throw Bad("a part has no name");
        return new FormPart(name, fileName is null ? null : SafeFileName(fileName), contentType, content);
    }

    static string? Parameter(string disposition, string key)
    {
        // Values are quoted strings; browsers escape '"' as %22, so a plain scan for the closing quote is enough.
        var marker = key + "=";
        var i = 0;
        while ((i = disposition.IndexOf(marker, i, StringComparison.OrdinalIgnoreCase)) >= 0)
        {
            var boundaryOk = i == 0 || disposition[i - 1] is ';' or ' ';
            var start = i + marker.Length;
            if (boundaryOk)
            {
                if (start < disposition.Length && disposition[start] == '"')
                {
                    var end = disposition.IndexOf('"', start + 1);
                    if (end < 0) return null;
                    return disposition[(start + 1)..end];
                }
                var semi = disposition.IndexOf(';', start);
                return (semi < 0 ? disposition[start..] : disposition[start..semi]).Trim();
            }
            i = start;
        }
        return null;
    }

    /// <summary>Only the last path segment: the name labels results and is never used as a path.</summary>
    static string SafeFileName(string fileName)
    {
        var name = fileName.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        name = new string(name.Where(c => !char.IsControl(c)).ToArray());
        return name.Length == 0 ? "upload" : name.Length > 255 ? name[..255] : name;
    }

    static MedGemmaException Bad(string why) =>
        new(MedGemmaErrorKind.InvalidData, "BadMultipart", $"The request body is not valid multipart/form-data: {why}.", "request");
}
