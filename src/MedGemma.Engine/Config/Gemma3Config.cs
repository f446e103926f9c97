using System.Text.Json.Nodes;

namespace MedGemma.Engine.Config;

/// <summary>
/// A Gemma 3 vision-language model's config.json (Gemma3ForConditionalGeneration), parsed from either the
/// transformers 5 layout or the older published one. Defaults are transformers' own for absent fields,
/// because published configs (MedGemma's included) omit most of them.
/// </summary>
public sealed record Gemma3Config
{
    public required Gemma3TextConfig Text { get; init; }
    public required SiglipVisionConfig Vision { get; init; }
    public int MmTokensPerImage { get; init; } = 256;
    public long ImageTokenId { get; init; } = 262144;
    public long BoiTokenId { get; init; } = 255999;
    public long EoiTokenId { get; init; } = 256000;
    public IReadOnlyList<long> EosTokenIds { get; init; } = new long[] { 1 };

    /// <summary>Reads <c>config.json</c> from a model folder, or the given .json file.</summary>
    public static Gemma3Config Load(string folderOrFile)
    {
        var path = Directory.Exists(folderOrFile) ? Path.Combine(folderOrFile, "config.json") : folderOrFile;
        return Parse(ConfigJson.ReadObject(path), path);
    }

    /// <summary>Parses a config object; <paramref name="source"/> names it in error messages.</summary>
    public static Gemma3Config Parse(JsonObject root, string source)
    {
        var modelType = ConfigJson.String(root, "model_type", source);
        if (modelType != "gemma3")
            throw modelType is null
                ? ConfigJson.Invalid(source, "model_type", "is missing (expected \"gemma3\")")
                : ConfigJson.Unsupported(source, "model_type", $"\"{modelType}\" (expected \"gemma3\")");

        var text = ParseText(ConfigJson.Object(root, "text_config", source) ?? new JsonObject(), source);
        var vision = ParseVision(ConfigJson.Object(root, "vision_config", source) ?? new JsonObject(), source);
        var mm = ConfigJson.PositiveInt(root, "mm_tokens_per_image", source, "", 256);
        var side = (int)Math.Round(Math.Sqrt(mm));
        if (side * side != mm || vision.PatchesPerSide % side != 0)
            throw ConfigJson.Invalid(source, "mm_tokens_per_image",
                $"must be a square number whose side divides the {vision.PatchesPerSide} patches per side (got {mm})");
        return new Gemma3Config
        {
            Text = text,
            Vision = vision,
            MmTokensPerImage = mm,
            ImageTokenId = ConfigJson.Long(root, "image_token_id", source) ?? ConfigJson.Long(root, "image_token_index", source) ?? 262144,
            BoiTokenId = ConfigJson.Long(root, "boi_token_id", source) ?? ConfigJson.Long(root, "boi_token_index", source) ?? 255999,
            EoiTokenId = ConfigJson.Long(root, "eoi_token_id", source) ?? ConfigJson.Long(root, "eoi_token_index", source) ?? 256000,
            EosTokenIds = ConfigJson.LongList(root, "eos_token_id", source) ?? ConfigJson.LongList(root["text_config"] as JsonObject ?? new JsonObject(), "eos_token_id", source) ?? new long[] { 1 },
        };
    }

    static Gemma3TextConfig ParseText(JsonObject t, string source)
    {
        const string p = "text_config.";
        var type = ConfigJson.String(t, "model_type", source, p);
        if (type is not null && type != "gemma3_text") throw ConfigJson.Unsupported(source, p + "model_type", $"\"{type}\" (expected \"gemma3_text\")");
        var act = ConfigJson.String(t, "hidden_activation", source, p) ?? ConfigJson.String(t, "hidden_act", source, p) ?? "gelu_pytorch_tanh";
        if (act != "gelu_pytorch_tanh") throw ConfigJson.Unsupported(source, p + "hidden_activation", $"\"{act}\"");
        if (ConfigJson.Bool(t, "use_bidirectional_attention", source, p) == true)
            throw ConfigJson.Unsupported(source, p + "use_bidirectional_attention", "true");
        var dropout = ConfigJson.Double(t, "attention_dropout", source, p) ?? 0;
        if (dropout != 0) throw ConfigJson.Unsupported(source, p + "attention_dropout", dropout.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var layers = ConfigJson.PositiveInt(t, "num_hidden_layers", source, p, 26);
        var heads = ConfigJson.PositiveInt(t, "num_attention_heads", source, p, 8);
        var kvHeads = ConfigJson.PositiveInt(t, "num_key_value_heads", source, p, 4);
        if (heads % kvHeads != 0)
            throw ConfigJson.Invalid(source, p + "num_key_value_heads", $"must divide num_attention_heads ({heads}), got {kvHeads}");
        var (global, local) = ParseRope(t, source, p);
        return new Gemma3TextConfig
        {
            VocabSize = ConfigJson.PositiveInt(t, "vocab_size", source, p, 262208),
            HiddenSize = ConfigJson.PositiveInt(t, "hidden_size", source, p, 2304),
            IntermediateSize = ConfigJson.PositiveInt(t, "intermediate_size", source, p, 9216),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = ConfigJson.PositiveInt(t, "head_dim", source, p, 256),
            QueryPreAttnScalar = ConfigJson.Double(t, "query_pre_attn_scalar", source, p) ?? 256,
            RmsNormEps = ConfigJson.Double(t, "rms_norm_eps", source, p) ?? 1e-6,
            SlidingWindow = ConfigJson.PositiveInt(t, "sliding_window", source, p, 4096),
            MaxPositionEmbeddings = ConfigJson.PositiveInt(t, "max_position_embeddings", source, p, 131072),
            AttentionBias = ConfigJson.Bool(t, "attention_bias", source, p) ?? false,
            AttnLogitSoftcapping = ConfigJson.Double(t, "attn_logit_softcapping", source, p),
            FinalLogitSoftcapping = ConfigJson.Double(t, "final_logit_softcapping", source, p),
            PadTokenId = ConfigJson.Int(t, "pad_token_id", source, p) ?? 0,
            SlidingLayers = ParseLayerTypes(t, layers, source, p),
            GlobalRope = global,
            LocalRope = local,
        };
    }

    static bool[] ParseLayerTypes(JsonObject t, int layers, string source, string p)
    {
        var types = ConfigJson.StringList(t, "layer_types", source, p);
        if (types is not null)
        {
            if (types.Count != layers)
                throw ConfigJson.Invalid(source, p + "layer_types", $"has {types.Count} entries for {layers} layers");
            return types.Select(x => x switch
            {
                "sliding_attention" => true,
                "full_attention" => false,
                _ => throw ConfigJson.Unsupported(source, p + "layer_types", $"\"{x}\""),
            }).ToArray();
        }
        // transformers: layer i is global when (i + 1) is a multiple of the pattern.
        var pattern = ConfigJson.Int(t, "sliding_window_pattern", source, p) ?? ConfigJson.Int(t, "_sliding_window_pattern", source, p) ?? 6;
        if (pattern <= 0) throw ConfigJson.Invalid(source, p + "sliding_window_pattern", $"must be positive (got {pattern})");
        return Enumerable.Range(0, layers).Select(i => (i + 1) % pattern != 0).ToArray();
    }

    static (RopeParameters Global, RopeParameters Local) ParseRope(JsonObject t, string source, string p)
    {
        var parameters = ConfigJson.Object(t, "rope_parameters", source, p);
        if (parameters is not null)
        {
            var full = ConfigJson.Object(parameters, "full_attention", source, p + "rope_parameters.");
            var sliding = ConfigJson.Object(parameters, "sliding_attention", source, p + "rope_parameters.");
            if (full is null && sliding is null)
            {
                // A single, flat rope_parameters dict applies to the global layers; local ones keep their base.
                var g = ParseRopeEntry(parameters, source, p + "rope_parameters.", 1_000_000.0);
                return (g, new RopeParameters(ConfigJson.Double(t, "rope_local_base_freq", source, p) ?? 10_000.0));
            }
            return (
                full is null ? new RopeParameters(1_000_000.0) : ParseRopeEntry(full, source, p + "rope_parameters.full_attention.", 1_000_000.0),
                sliding is null ? new RopeParameters(10_000.0) : ParseRopeEntry(sliding, source, p + "rope_parameters.sliding_attention.", 10_000.0));
        }

        var theta = ConfigJson.Double(t, "rope_theta", source, p) ?? 1_000_000.0;
        var localTheta = ConfigJson.Double(t, "rope_local_base_freq", source, p) ?? 10_000.0;
        var scaling = ConfigJson.Object(t, "rope_scaling", source, p);
        var factor = 1.0;
        if (scaling is not null)
        {
            var entry = ParseRopeEntry(scaling, source, p + "rope_scaling.", theta);
            factor = entry.LinearFactor;
        }
        return (new RopeParameters(theta, factor), new RopeParameters(localTheta));
    }

    static RopeParameters ParseRopeEntry(JsonObject o, string source, string prefix, double defaultTheta)
    {
        var type = ConfigJson.String(o, "rope_type", source, prefix) ?? ConfigJson.String(o, "type", source, prefix) ?? "default";
        var theta = ConfigJson.Double(o, "rope_theta", source, prefix) ?? defaultTheta;
        if (theta <= 0) throw ConfigJson.Invalid(source, prefix + "rope_theta", "must be positive");
        switch (type)
        {
            case "default":
                return new RopeParameters(theta);
            case "linear":
                var factor = ConfigJson.Double(o, "factor", source, prefix)
                    ?? throw ConfigJson.Invalid(source, prefix + "factor", "is required for linear RoPE scaling");
                if (factor <= 0) throw ConfigJson.Invalid(source, prefix + "factor", "must be positive");
                return new RopeParameters(theta, factor);
            default:
                throw ConfigJson.Unsupported(source, prefix + "rope_type", $"\"{type}\" (supported: default, linear)");
        }
    }

    static SiglipVisionConfig ParseVision(JsonObject v, string source)
    {
        const string p = "vision_config.";
        var type = ConfigJson.String(v, "model_type", source, p);
        if (type is not null && type != "siglip_vision_model") throw ConfigJson.Unsupported(source, p + "model_type", $"\"{type}\" (expected \"siglip_vision_model\")");
        var act = ConfigJson.String(v, "hidden_act", source, p) ?? "gelu_pytorch_tanh";
        if (act != "gelu_pytorch_tanh") throw ConfigJson.Unsupported(source, p + "hidden_act", $"\"{act}\"");
        if (ConfigJson.Bool(v, "vision_use_head", source, p) == true) throw ConfigJson.Unsupported(source, p + "vision_use_head", "true");
        var dropout = ConfigJson.Double(v, "attention_dropout", source, p) ?? 0;
        if (dropout != 0) throw ConfigJson.Unsupported(source, p + "attention_dropout", dropout.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var c = new SiglipVisionConfig
        {
            HiddenSize = ConfigJson.PositiveInt(v, "hidden_size", source, p, 768),
            IntermediateSize = ConfigJson.PositiveInt(v, "intermediate_size", source, p, 3072),
            NumHiddenLayers = ConfigJson.PositiveInt(v, "num_hidden_layers", source, p, 12),
            NumAttentionHeads = ConfigJson.PositiveInt(v, "num_attention_heads", source, p, 12),
            NumChannels = ConfigJson.PositiveInt(v, "num_channels", source, p, 3),
            ImageSize = ConfigJson.PositiveInt(v, "image_size", source, p, 224),
            PatchSize = ConfigJson.PositiveInt(v, "patch_size", source, p, 16),
            LayerNormEps = ConfigJson.Double(v, "layer_norm_eps", source, p) ?? 1e-6,
        };
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw ConfigJson.Invalid(source, p + "num_attention_heads", $"must divide hidden_size ({c.HiddenSize})");
        if (c.ImageSize % c.PatchSize != 0)
            throw ConfigJson.Invalid(source, p + "patch_size", $"must divide image_size ({c.ImageSize})");
        return c;
    }
}
