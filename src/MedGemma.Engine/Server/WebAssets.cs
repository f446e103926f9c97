using System.Reflection;

namespace MedGemma.Engine.Server;

/// <summary>
/// The page's HTML/CSS/JS, embedded in this assembly so the server works without any network
/// access (no CDN) and cannot be served a modified copy from disk.
/// </summary>
static class WebAssets
{
    static readonly Dictionary<string, (string ContentType, byte[] Content)> Assets = Load();

    public static bool TryGet(string path, out string contentType, out byte[] content)
    {
        if (path == "/") path = "/index.html";
        if (Assets.TryGetValue(path, out var asset))
        {
            (contentType, content) = asset;
            return true;
        }
        contentType = "";
        content = [];
        return false;
    }

    static Dictionary<string, (string, byte[])> Load()
    {
        const string prefix = "MedGemma.Engine.Server.Web.";
        var assembly = typeof(WebAssets).Assembly;
        var assets = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name[prefix.Length..];
            assets["/" + file] = (ContentType(file), copy.ToArray());
        }
        return assets;
    }

    static string ContentType(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}
