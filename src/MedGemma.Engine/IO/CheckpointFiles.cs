using System.Text.Json;

namespace MedGemma.Engine.IO;

/// <summary>
/// Finds the safetensors files of a checkpoint: a file path is itself; a folder is its
/// <c>model.safetensors.index.json</c> shards (as <c>save_pretrained</c> writes for large models) or its
/// single <c>model.safetensors</c>.
/// </summary>
public static class CheckpointFiles
{
    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    /// <summary>The shard files, and for a sharded folder the index's key → shard file map (else null).</summary>
    public sealed record Resolved(IReadOnlyList<string> Files, IReadOnlyDictionary<string, string>? WeightMap, string? IndexPath);

    public static Resolved Resolve(string pathToFolderOrFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathToFolderOrFile);
        var full = Path.GetFullPath(pathToFolderOrFile);
        if (File.Exists(full))
            return full.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? FromIndex(full) : new Resolved(new[] { full }, null, null);
        if (!Directory.Exists(full))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "CheckpointNotFound", $"The checkpoint '{full}' does not exist.", full);
        var index = Path.Combine(full, IndexFileName);
        if (File.Exists(index)) return FromIndex(index);
        var single = Path.Combine(full, SingleFileName);
        if (File.Exists(single)) return new Resolved(new[] { single }, null, null);
        throw new MedGemmaException(MedGemmaErrorKind.NotFound, "CheckpointNotFound",
            $"The folder '{full}' has neither {IndexFileName} nor {SingleFileName}.", full);
    }

    static Resolved FromIndex(string index)
    {
        var folder = Path.GetDirectoryName(index)!;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var stream = File.OpenRead(index);
            using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw Bad(index, "it has no \"weight_map\" object");
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw Bad(index, $"the shard of '{p.Name}' is not a file name");
                var shard = p.Value.GetString()!;
                // A shard name is a plain file name beside the index; anything else could read outside the folder.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw Bad(index, $"the shard of '{p.Name}' ('{shard}') is not a file name in the same folder");
                if (!map.TryAdd(p.Name, Path.Combine(folder, shard)))
                    throw Bad(index, $"'{p.Name}' is listed twice");
            }
        }
        catch (JsonException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CheckpointBadIndex", $"'{index}' is not valid JSON: {e.Message}", index, e);
        }
        catch (IOException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "CheckpointFileUnreadable", $"Cannot read '{index}': {e.Message}", index, e);
        }
        var files = map.Values.Distinct(StringComparer.Ordinal).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw Bad(index, "its weight_map is empty");
        foreach (var f in files)
            if (!File.Exists(f))
                throw new MedGemmaException(MedGemmaErrorKind.NotFound, "CheckpointShardNotFound",
                    $"'{index}' names the shard '{Path.GetFileName(f)}', which is not in '{folder}'.", f);
        return new Resolved(files, map, index);
    }

    static MedGemmaException Bad(string index, string why) =>
        new(MedGemmaErrorKind.InvalidData, "CheckpointBadIndex", $"'{index}' is not a valid safetensors index: {why}.", index);
}
