using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedGemma.Engine.Config;

/// <summary>Typed reads from Hugging Face JSON configs; every failure names the file and the field.</summary>
internal static class ConfigJson
{
    public static JsonObject ReadObject(string path)
    {
        if (!File.Exists(path))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ConfigNotFound", $"Model config not found: {path}", path);
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidConfig", $"{path} is not a JSON object.", path);
        }
        catch (JsonException e)
        {
            throw new MedGemmaException(MedGemmaErrorKind.InvalidData, "InvalidConfig", $"{path} is not valid JSON: {e.Message}", path, e);
        }
    }

    public static MedGemmaException Invalid(string source, string field, string why) =>
        new(MedGemmaErrorKind.InvalidData, "InvalidConfigValue", $"{source}: field '{field}' {why}.", field);

    public static MedGemmaException Unsupported(string source, string field, string value) =>
        new(MedGemmaErrorKind.NotSupported, "UnsupportedConfigValue", $"{source}: field '{field}' has the unsupported value {value}.", field);

    static JsonNode? Get(JsonObject o, string name) => o.TryGetPropertyValue(name, out var v) ? v : null;

    public static JsonObject? Object(JsonObject o, string name, string source, string prefix = "")
    {
        var v = Get(o, name);
        if (v is null) return null;
        return v as JsonObject ?? throw Invalid(source, prefix + name, "must be an object");
    }

    public static string? String(JsonObject o, string name, string source, string prefix = "")
    {
        var v = Get(o, name);
        if (v is null) return null;
        return v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw Invalid(source, prefix + name, "must be a string");
    }

    public static double? Double(JsonObject o, string name, string source, string prefix = "")
    {
        var v = Get(o, name);
        if (v is null) return null;
        return v is JsonValue jv && jv.TryGetValue<double>(out var d) ? d : throw Invalid(source, prefix + name, "must be a number");
    }

    public static long? Long(JsonObject o, string name, string source, string prefix = "")
    {
        var d = Double(o, name, source, prefix);
        if (d is null) return null;
        if (d != Math.Floor(d.Value)) throw Invalid(source, prefix + name, "must be an integer");
        return (long)d.Value;
    }

    public static int? Int(JsonObject o, string name, string source, string prefix = "")
    {
        var l = Long(o, name, source, prefix);
        if (l is null) return null;
        if (l < int.MinValue || l > int.MaxValue) throw Invalid(source, prefix + name, "is out of range");
        return (int)l.Value;
    }

    public static int PositiveInt(JsonObject o, string name, string source, string prefix, int fallback)
    {
        var v = Int(o, name, source, prefix) ?? fallback;
        if (v <= 0) throw Invalid(source, prefix + name, $"must be positive (got {v})");
        return v;
    }

    public static bool? Bool(JsonObject o, string name, string source, string prefix = "")
    {
        var v = Get(o, name);
        if (v is null) return null;
        return v is JsonValue jv && jv.TryGetValue<bool>(out var b) ? b : throw Invalid(source, prefix + name, "must be true or false");
    }

    /// <summary>An int or a list of ints (eos_token_id comes in both forms).</summary>
    public static IReadOnlyList<long>? LongList(JsonObject o, string name, string source, string prefix = "")
    {
        var v = Get(o, name);
        if (v is null) return null;
        if (v is JsonArray a)
            return a.Select(x => x is JsonValue jv && jv.TryGetValue<long>(out var l) ? l : throw Invalid(source, prefix + name, "must be a list of integers")).ToArray();
        return new[] { Long(o, name, source, prefix)!.Value };
    }

    public static IReadOnlyList<string>? StringList(JsonObject o, string name, string source, string prefix = "")
    {
        var v = Get(o, name);
        if (v is null) return null;
        if (v is not JsonArray a) throw Invalid(source, prefix + name, "must be a list of strings");
        return a.Select(x => x is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw Invalid(source, prefix + name, "must be a list of strings")).ToArray();
    }
}
