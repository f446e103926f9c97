namespace MedGemma.Engine.Server;

/// <summary>The servers running in this process, so Get-/Stop-CaptionServer can find them from any runspace.</summary>
public static class CaptionServerRegistry
{
    static readonly object Gate = new();
    static readonly List<CaptionServer> Servers = [];

    public static IReadOnlyList<CaptionServer> Running
    {
        get { lock (Gate) return [.. Servers]; }
    }

    internal static void Add(CaptionServer server) { lock (Gate) Servers.Add(server); }
    internal static void Remove(CaptionServer server) { lock (Gate) Servers.Remove(server); }
}
