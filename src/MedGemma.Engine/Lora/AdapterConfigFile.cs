using MedGemma.Engine.IO;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedGemma.Engine.Lora;

/// <summary>
/// adapter_config.json as PEFT reads and writes it. We write the keys every PEFT release since 0.9
/// accepts (newer PEFT fills in the rest), and refuse settings that would change the computation
/// in ways we do not implement (DoRA, per-layer ranks, layer selection, trainable bias).
/// </summary>
public static class AdapterConfigFile
{
    public const string FileName = "adapter_config.json";

    public static LoraConfig Read(string path)
    {
        if (!File.Exists(path))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "AdapterConfigNotFound", $"Adapter config not found: {path}", path);
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new JsonException("not a JSON object"); }
        catch (JsonException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadAdapterConfig", $"Adapter config {path} is not valid JSON: {e.Message}", path, e);
        }
        return Parse(json, path);
    }

    public static LoraConfig Parse(JsonObject json, string source)
    {
        var peftType = Str(json, "peft_type");
        if (peftType != null && peftType != "LORA")
            throw Unsupported(source, $"Adapter {source} is peft_type {peftType}; only LORA is supported.");
        if (Bool(json, "use_dora")) throw Unsupported(source, $"Adapter {source} uses DoRA, which is not supported.");
        if (Bool(json, "fan_in_fan_out")) throw Unsupported(source, $"Adapter {source} sets fan_in_fan_out, which Gemma's Linear layers do not use.");
        if (Bool(json, "lora_bias")) throw Unsupported(source, $"Adapter {source} has LoRA bias, which is not supported.");
        var bias = Str(json, "bias") ?? "none";
        if (bias != "none") throw Unsupported(source, $"Adapter {source} trains biases (bias = {bias}); only 'none' is supported.");
        foreach (var key in new[] { "rank_pattern", "alpha_pattern" })
            if (json[key] is JsonObject o && o.Count > 0) throw Unsupported(source, $"Adapter {source} sets {key}, which is not supported.");
        foreach (var key in new[] { "layers_to_transform", "layer_replication", "target_parameters", "modules_to_save", "trainable_token_indices" })
            if (json[key] is JsonNode n && n.GetValueKind() != JsonValueKind.Null && !(n is JsonArray a && a.Count == 0))
                throw Unsupported(source, $"Adapter {source} sets {key}, which is not supported.");

        var (targets, targetRegex) = Targets(json["target_modules"], source, "target_modules");
        var (excludes, excludeRegex) = Targets(json["exclude_modules"], source, "exclude_modules");
        var config = new LoraConfig
        {
            R = (int)Num(json, "r", 8),
            Alpha = Num(json, "lora_alpha", 8),
            Dropout = Num(json, "lora_dropout", 0),
            TargetModules = targets ?? Array.Empty<string>(),
            TargetRegex = targetRegex,
            ExcludeModules = excludes,
            ExcludeRegex = excludeRegex,
            UseRsLora = Bool(json, "use_rslora"),
            TaskType = Str(json, "task_type") ?? "CAUSAL_LM",
            BaseModelNameOrPath = Str(json, "base_model_name_or_path"),
            InferenceMode = json["inference_mode"] is JsonNode im ? im.GetValue<bool>() : true,
        };
        config.Validate(source);
        return config;
    }

    public static JsonObject ToJson(LoraConfig config)
    {
        JsonNode? Targets(string? regex, IReadOnlyList<string>? list) =>
            regex != null ? JsonValue.Create(regex) : list == null ? null : new JsonArray(list.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        return new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = config.BaseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = config.InferenceMode,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = Number(config.Alpha),
            ["lora_dropout"] = config.Dropout,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = config.R,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = Targets(config.TargetRegex, config.TargetModules),
            ["task_type"] = config.TaskType,
            ["use_dora"] = false,
            ["use_rslora"] = config.UseRsLora,
        };
    }

    public static void Write(string path, LoraConfig config)
    {
        var json = ToJson(config);
        if (config.ExcludeRegex != null || config.ExcludeModules != null)
            json["exclude_modules"] = config.ExcludeRegex != null ? JsonValue.Create(config.ExcludeRegex)
                : new JsonArray(config.ExcludeModules!.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
        AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    // An integral alpha is written as an int, as PEFT users write it.
    static JsonNode Number(double v) => v == Math.Floor(v) && Math.Abs(v) < int.MaxValue ? JsonValue.Create((int)v) : JsonValue.Create(v);

    static (IReadOnlyList<string>?, string?) Targets(JsonNode? node, string source, string key) => node switch
    {
        null => (null, null),
        JsonArray a => (a.Select(n => n!.GetValue<string>()).ToArray(), null),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => (null, v.GetValue<string>()),
        _ => throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "BadAdapterConfig", $"{key} in {source} must be a list or a string.", source),
    };

    static string? Str(JsonObject json, string key) => json[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
    static bool Bool(JsonObject json, string key) => json[key] is JsonValue v && v.GetValueKind() == JsonValueKind.True;
    static double Num(JsonObject json, string key, double fallback) => json[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : fallback;

    static MedGemmaException Unsupported(string source, string message) => new(MedGemmaErrorKind.NotSupported, "UnsupportedAdapterConfig", message, source);
}
