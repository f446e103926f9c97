using MedGemma.Engine;
using MedGemma.Engine.Api;

namespace MedGemma.PowerShell;

/// <summary>
/// The resident models of this PowerShell process. A model stays loaded (on the GPU when there is one)
/// between pipelines; cmdlets given a folder reuse a resident session of that folder instead of reloading.
/// </summary>
internal static class ModelRegistry
{
    public const string ModelVariable = "MEDGEMMA_MODEL";
    static readonly object Gate = new();
    static readonly List<MedGemmaSession> Sessions = new();

    public static IReadOnlyList<MedGemmaSession> All
    {
        get { lock (Gate) { Sessions.RemoveAll(s => s.IsDisposed); return Sessions.ToList(); } }
    }

    /// <summary>The most recently imported live session, or null.</summary>
    public static MedGemmaSession? Last
    {
        get { lock (Gate) return Sessions.LastOrDefault(s => !s.IsDisposed); }
    }

    public static MedGemmaSession? FindByPath(string fullPath)
    {
        var key = Path.TrimEndingDirectorySeparator(Path.GetFullPath(fullPath));
        lock (Gate) return Sessions.LastOrDefault(s => !s.IsDisposed && string.Equals(s.Path, key, StringComparison.Ordinal));
    }

    public static void Add(MedGemmaSession session)
    {
        lock (Gate)
        {
            Sessions.Remove(session);
            Sessions.Add(session);
        }
    }

    public static void Remove(MedGemmaSession session)
    {
        lock (Gate) Sessions.Remove(session);
        session.Dispose();
    }

    public static string? EnvironmentModel => Environment.GetEnvironmentVariable(ModelVariable) is { Length: > 0 } v ? v : null;

    public static MedGemmaException NoModel() => new(MedGemmaErrorKind.NotFound, "NoModel",
        $"No model is loaded. Run Import-MedGemmaModel -Path <MedGemma folder>, pass -Model, or set ${ModelVariable} to a model folder.", ModelVariable);
}
