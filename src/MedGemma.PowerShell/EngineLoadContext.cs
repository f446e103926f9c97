using System.Reflection;
using System.Runtime.Loader;

namespace MedGemma.PowerShell;

/// <summary>
/// Loads MedGemma.Engine and its managed dependencies from the module's Dependencies/ folder, resolved
/// through the engine's deps.json. Another module may already have loaded a different
/// Microsoft.ML.Tokenizers, ImageSharp or System.Numerics.Tensors into the default context; ours live
/// here and never meet theirs. Framework assemblies return null and fall back to the shared ones.
/// </summary>
internal sealed class EngineLoadContext : AssemblyLoadContext
{
    readonly AssemblyDependencyResolver _resolver;
    readonly string _folder;

    public EngineLoadContext(string engineAssemblyPath) : base("MedGemma.Engine", isCollectible: false)
    {
        _folder = Path.GetDirectoryName(engineAssemblyPath)!;
        _resolver = new AssemblyDependencyResolver(engineAssemblyPath);
        EnginePath = engineAssemblyPath;
    }

    public string EnginePath { get; }

    protected override Assembly? Load(AssemblyName name)
    {
        var path = _resolver.ResolveAssemblyToPath(name);
        if (path == null)
        {
            // Assemblies beside the engine that deps.json does not list (e.g. a patched copy) still belong here.
            var local = Path.Combine(_folder, name.Name + ".dll");
            if (!File.Exists(local) || IsFrameworkAssembly(name)) return null;
            path = local;
        }
        return LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
        if (path == null)
        {
            // TorchSharp asks for "libtorch_cpu" etc. by bare name; the RID publish puts them flat beside the engine.
            foreach (var candidate in new[] { unmanagedDllName, "lib" + unmanagedDllName + ".so", unmanagedDllName + ".so" })
            {
                var local = Path.Combine(_folder, candidate);
                if (File.Exists(local)) { path = local; break; }
            }
        }
        return path == null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
    }

    static bool IsFrameworkAssembly(AssemblyName name)
    {
        var n = name.Name ?? "";
        return n == "netstandard" || n == "mscorlib" || (n.StartsWith("System.", StringComparison.Ordinal) && AppContextHasFrameworkCopy(n));
    }

    static bool AppContextHasFrameworkCopy(string name)
    {
        var tpa = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "";
        return tpa.Contains(Path.DirectorySeparatorChar + name + ".dll", StringComparison.Ordinal);
    }
}
