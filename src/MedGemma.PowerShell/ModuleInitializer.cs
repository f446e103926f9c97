using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace MedGemma.PowerShell;

/// <summary>
/// Hooks the default context so the one name the cmdlet assembly asks for, MedGemma.Engine, comes from
/// <see cref="EngineLoadContext"/>. Everything else the engine needs is resolved inside that context.
/// The pattern is PowerShell's documented "two-assembly" dependency isolation.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    const string EngineName = "MedGemma.Engine";
    static readonly object Gate = new();
    static EngineLoadContext? s_context;

    internal static string ModuleFolder { get; } = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;

    internal static string DependencyFolder => Path.Combine(ModuleFolder, "Dependencies");

    public void OnImport() => EnsureHooked();

    public void OnRemove(PSModuleInfo module)
    {
        // The engine context is not collectible (native libtorch cannot be unloaded); unhooking only
        // stops resolving, and a later Import-Module in this process hooks the same context again.
        AssemblyLoadContext.Default.Resolving -= ResolveEngine;
    }

    internal static void EnsureHooked()
    {
        lock (Gate)
        {
            AssemblyLoadContext.Default.Resolving -= ResolveEngine;
            AssemblyLoadContext.Default.Resolving += ResolveEngine;
        }
    }

    static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name)
    {
        if (!string.Equals(name.Name, EngineName, StringComparison.Ordinal)) return null;
        lock (Gate)
        {
            if (s_context == null)
            {
                var path = Path.Combine(DependencyFolder, EngineName + ".dll");
                if (!File.Exists(path)) return null;
                s_context = new EngineLoadContext(path);
            }
            return s_context.LoadFromAssemblyName(name);
        }
    }
}
