namespace MedGemma.Engine.Api;

/// <summary>
/// Turns an image reference written by someone else's machine into a file here. Datasets travel between
/// Windows, macOS and Linux boxes: backslashes, "file://" URIs, absolute paths from another home folder and
/// case that only matched on a case-insensitive disk all show up in real caption files.
/// </summary>
public static class DatasetPaths
{
    /// <summary>The file the reference points at, or null. Tries, in order: as written; with '/' separators;
    /// case-insensitively per folder level; then ever shorter tails of the path under <paramref name="baseFolder"/>
    /// (so "/home/alice/data/images/a.png" finds "images/a.png" beside the manifest).</summary>
    public static string? Resolve(string reference, string baseFolder)
    {
        var text = Clean(reference);
        if (text.Length == 0) return null;
        var parts = text.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        bool rooted = text.StartsWith('/') || IsDriveRooted(text);

        if (rooted && !IsDriveRooted(text) && File.Exists(text)) return Path.GetFullPath(text);
        if (!rooted)
        {
            var direct = Path.GetFullPath(Path.Combine(baseFolder, text));
            if (File.Exists(direct)) return direct;
            var found = WalkCaseInsensitive(Path.GetFullPath(baseFolder), parts);
            if (found != null) return found;
        }
        else if (!IsDriveRooted(text))
        {
            var found = WalkCaseInsensitive("/", parts);
            if (found != null) return found;
        }

        var tailParts = parts.Where(p => p != "..").ToArray();
        if (IsDriveRooted(text)) tailParts = tailParts.Skip(1).ToArray();
        for (int skip = rooted ? 0 : 1; skip < tailParts.Length; skip++)
        {
            var found = WalkCaseInsensitive(Path.GetFullPath(baseFolder), tailParts[skip..]);
            if (found != null) return found;
        }
        return null;
    }

    /// <summary>How a manifest names a file: relative to the manifest's folder, always with '/'.</summary>
    public static string RelativeForManifest(string fullPath, string manifestFolder)
        => Path.GetRelativePath(Path.GetFullPath(manifestFolder), fullPath).Replace('\\', '/');

    static string Clean(string reference)
    {
        var text = reference.Trim().Trim('"', '\'').Trim();
        if (text.StartsWith("file://", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(text, UriKind.Absolute, out var uri))
            text = uri.LocalPath;
        if (Path.DirectorySeparatorChar == '/') text = text.Replace('\\', '/');
        return text;
    }

    static bool IsDriveRooted(string text) => text.Length >= 2 && char.IsAsciiLetter(text[0]) && text[1] == ':' && Path.DirectorySeparatorChar == '/';

    static string? WalkCaseInsensitive(string folder, string[] parts)
    {
        var current = folder;
        for (int i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            bool last = i == parts.Length - 1;
            if (part == "..") { current = Path.GetDirectoryName(current) ?? current; continue; }
            var exact = Path.Combine(current, part);
            if (last ? File.Exists(exact) : Directory.Exists(exact)) { current = exact; continue; }
            if (!Directory.Exists(current)) return null;
            var entries = last ? Directory.EnumerateFiles(current) : Directory.EnumerateDirectories(current);
            var match = entries.Where(e => string.Equals(Path.GetFileName(e), part, StringComparison.OrdinalIgnoreCase)).Take(2).ToList();
            if (match.Count != 1) return null;  // none, or ambiguous (Image.png and image.png both exist)
            current = match[0];
        }
        return File.Exists(current) ? Path.GetFullPath(current) : null;
    }
}
