using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.IO;

/// <summary>
/// Matches checkpoint tensors to a module's state dict and checks keys, shapes, dtypes and placement
/// from the headers alone. Items come out in file order so reads are sequential.
/// </summary>
internal sealed class LoadPlan
{
    internal sealed record Item(SafeTensorsFile File, SafeTensorsEntry Entry, string ModuleKey);

    public List<Item> Items { get; } = new();
    public List<string> TiedKeys { get; } = new();
    public long TotalBytes => Items.Sum(i => i.Entry.Length);

    /// <summary>How many keys an error message lists before "and N more".</summary>
    const int ListedKeys = 8;

    public static LoadPlan Build(IReadOnlyList<SafeTensorsFile> files, CheckpointFiles.Resolved resolved,
        Dictionary<string, Tensor> expected, Device device, ScalarType dtype)
    {
        var plan = new LoadPlan();
        var byKey = new Dictionary<string, Item>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            foreach (var entry in file.Entries)
            {
                CheckIndex(resolved, file, entry);
                var item = new Item(file, entry, KeyLayout.ToModuleKey(entry.Name));
                if (byKey.TryGetValue(item.ModuleKey, out var other))
                    throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "DuplicateCheckpointKey",
                        $"'{entry.Name}' in '{file.Path}' and '{other.Entry.Name}' in '{other.File.Path}' are the same weight ('{item.ModuleKey}').",
                        $"{file.Path}:{entry.Name}");
                byKey.Add(item.ModuleKey, item);
            }
        }
        CheckIndexComplete(resolved, files);
        TieLmHead(plan, byKey, expected);

        var unexpected = byKey.Keys.Where(k => !expected.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
        {
            var first = byKey[unexpected[0]];
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "UnexpectedCheckpointKey",
                $"The checkpoint has {unexpected.Count} weight(s) the model does not: {List(unexpected, k => $"'{byKey[k].Entry.Name}' in '{byKey[k].File.Path}'")}.",
                $"{first.File.Path}:{first.Entry.Name}");
        }
        var missing = expected.Keys.Where(k => !byKey.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "MissingCheckpointKey",
                $"The checkpoint ({string.Join(", ", files.Select(f => Path.GetFileName(f.Path)))} in '{Path.GetDirectoryName(files[0].Path)}') lacks {missing.Count} weight(s) the model needs: {List(missing, k => $"'{k}'")}.",
                missing[0]);

        foreach (var (key, item) in byKey)
            CheckTensor(item, key, expected[key], device, dtype);
        plan.Items.AddRange(byKey.Values
            .OrderBy(i => i.File.Path, StringComparer.Ordinal).ThenBy(i => i.Entry.Offset).ThenBy(i => i.ModuleKey, StringComparer.Ordinal));
        return plan;
    }

    static void TieLmHead(LoadPlan plan, Dictionary<string, Item> byKey, Dictionary<string, Tensor> expected)
    {
        bool hasEmbed = byKey.TryGetValue(KeyLayout.EmbedTokensKey, out var embed);
        if (byKey.TryGetValue(KeyLayout.LmHeadKey, out var head) && !expected.ContainsKey(KeyLayout.LmHeadKey)
            && hasEmbed && head.Entry.Shape.SequenceEqual(embed!.Entry.Shape))
        {
            byKey.Remove(KeyLayout.LmHeadKey);
            plan.TiedKeys.Add(KeyLayout.LmHeadKey);
        }
        else if (!byKey.ContainsKey(KeyLayout.LmHeadKey) && expected.ContainsKey(KeyLayout.LmHeadKey) && hasEmbed)
        {
            byKey.Add(KeyLayout.LmHeadKey, embed! with { ModuleKey = KeyLayout.LmHeadKey });
            plan.TiedKeys.Add(KeyLayout.LmHeadKey);
        }
    }

    static void CheckTensor(Item item, string key, Tensor dest, Device device, ScalarType dtype)
    {
        var target = $"{item.File.Path}:{item.Entry.Name}";
        if (!dest.shape.SequenceEqual(item.Entry.Shape))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CheckpointShapeMismatch",
                $"'{item.Entry.Name}' in '{item.File.Path}' has shape [{string.Join(", ", item.Entry.Shape)}] but the model's '{key}' is [{string.Join(", ", dest.shape)}].",
                target);
        var fileType = SafeTensorsDType.ToScalarType(item.Entry.DType);
        bool destFloat = SafeTensorsDType.IsFloatingPoint(dest.dtype);
        if (destFloat != SafeTensorsDType.IsFloatingPoint(fileType) || (!destFloat && dest.dtype != fileType))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CheckpointDTypeMismatch",
                $"'{item.Entry.Name}' in '{item.File.Path}' is {item.Entry.DType} but the model's '{key}' is {dest.dtype}.", target);
        if (destFloat && dest.dtype != dtype)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ModelNotInTargetDType",
                $"The model's '{key}' is {dest.dtype} but loading was asked for {dtype}; build the model in {dtype} before loading.", key);
        if (dest.device_type != device.type || (device.type == DeviceType.CUDA && device.index >= 0 && dest.device_index != device.index))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "ModelNotOnTargetDevice",
                $"The model's '{key}' is on {dest.device} but loading was asked for {device}; build the model on {device} before loading.", key);
    }

    /// <summary>A sharded checkpoint's index must agree with its shards, or we might load a stale shard.</summary>
    static void CheckIndex(CheckpointFiles.Resolved resolved, SafeTensorsFile file, SafeTensorsEntry entry)
    {
        if (resolved.WeightMap is null) return;
        if (!resolved.WeightMap.TryGetValue(entry.Name, out var shard) || !string.Equals(shard, file.Path, StringComparison.Ordinal))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CheckpointIndexMismatch",
                $"'{entry.Name}' is in '{file.Path}' but '{resolved.IndexPath}' {(shard is null ? "does not list it" : $"places it in '{Path.GetFileName(shard)}'")}.",
                $"{file.Path}:{entry.Name}");
    }

    static void CheckIndexComplete(CheckpointFiles.Resolved resolved, IReadOnlyList<SafeTensorsFile> files)
    {
        if (resolved.WeightMap is null) return;
        var byPath = files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var (name, shard) in resolved.WeightMap)
            if (!byPath[shard].Contains(name))
                throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "CheckpointIndexMismatch",
                    $"'{resolved.IndexPath}' places '{name}' in '{Path.GetFileName(shard)}', which does not contain it.", $"{shard}:{name}");
    }

    static string List(List<string> keys, Func<string, string> show) =>
        string.Join(", ", keys.Take(ListedKeys).Select(show)) + (keys.Count > ListedKeys ? $" and {keys.Count - ListedKeys} more" : "");
}
