using System.Text.Json.Nodes;
using MedGemma.Engine.Config;
using MedGemma.Engine.Model;
using MedGemma.Engine.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Bench.Workloads;

/// <summary>
/// Model sizes for the model workloads. "full" is the MedGemma-4B-sized config of shared/reference/hf_bench.py
/// (GPU only); "mid" (4 layers, width 512), "deep" (the full layer count at width 64) and "tiny" (the test fixtures'
/// width) run on a CPU. The real
/// vocabulary and special-token ids are kept in every size so the prompt is the reference's token for token.
/// </summary>
public static class ModelSizes
{
    public const string Full = """
    {"model_type": "gemma3", "boi_token_index": 255999, "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
     "mm_tokens_per_image": 256,
     "text_config": {"head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2560, "intermediate_size": 10240,
       "max_position_embeddings": 131072, "num_attention_heads": 8, "num_hidden_layers": 34, "num_key_value_heads": 4,
       "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
       "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 1024,
       "sliding_window_pattern": 6, "vocab_size": 262208},
     "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304, "num_attention_heads": 16,
       "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": false, "layer_norm_eps": 1e-6}}
    """;

    // Width 512, 4 decoder layers (one global); a 448-pixel image still gives 256 image tokens (2x2 pooling).
    public const string Mid = """
    {"model_type": "gemma3", "boi_token_index": 255999, "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
     "mm_tokens_per_image": 256,
     "text_config": {"head_dim": 128, "hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 4, "num_hidden_layers": 4,
       "num_key_value_heads": 2, "query_pre_attn_scalar": 128, "rope_local_base_freq": 10000.0,
       "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 128,
       "sliding_window_pattern": 4, "vocab_size": 262208},
     "vision_config": {"hidden_size": 256, "image_size": 448, "intermediate_size": 1024, "num_attention_heads": 4,
       "num_hidden_layers": 2, "patch_size": 14, "vision_use_head": false, "layer_norm_eps": 1e-6}}
    """;

    // The mid text model with a vision tower at the full image size (896 px: 4096 patches, as MedGemma), narrow but
    // 6 layers deep: where the vision tower's activations in training (and gradient checkpointing) show on a CPU.
    static string MidVision()
    {
        var config = JsonNode.Parse(Mid)!.AsObject();
        var vision = config["vision_config"]!.AsObject();
        vision["image_size"] = 896;
        vision["num_hidden_layers"] = 6;
        return config.ToJsonString();
    }

    // The full model's depth and layer pattern (34 layers, sliding window 1024 every 6th global, 8 query / 4 kv heads)
    // at width 64: a CPU decode step then costs mostly TorchSharp's per-op host overhead, as batch-1 decode on a GPU does.
    public const string Deep = """
    {"model_type": "gemma3", "boi_token_index": 255999, "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
     "mm_tokens_per_image": 256,
     "text_config": {"head_dim": 16, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64, "intermediate_size": 256,
       "max_position_embeddings": 131072, "num_attention_heads": 8, "num_hidden_layers": 34, "num_key_value_heads": 4,
       "query_pre_attn_scalar": 16, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
       "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 1024,
       "sliding_window_pattern": 6, "vocab_size": 262208},
     "vision_config": {"hidden_size": 32, "image_size": 224, "intermediate_size": 64, "num_attention_heads": 2,
       "num_hidden_layers": 2, "patch_size": 14, "vision_use_head": false, "layer_norm_eps": 1e-6}}
    """;

    public const string Tiny = """
    {"model_type": "gemma3", "boi_token_index": 255999, "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144,
     "mm_tokens_per_image": 256,
     "text_config": {"head_dim": 16, "hidden_size": 24, "intermediate_size": 48, "num_attention_heads": 2, "num_hidden_layers": 4,
       "num_key_value_heads": 1, "query_pre_attn_scalar": 16, "rope_local_base_freq": 10000.0,
       "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 32,
       "sliding_window_pattern": 2, "vocab_size": 262208},
     "vision_config": {"hidden_size": 24, "image_size": 224, "intermediate_size": 48, "num_attention_heads": 2,
       "num_hidden_layers": 2, "patch_size": 14, "vision_use_head": false, "layer_norm_eps": 1e-6}}
    """;

    public static string Json(string size) => size switch
    {
        "full" => Full,
        "mid" => Mid,
        "deep" => Deep,
        "mid-vision" => MidVision(),
        "tiny" => Tiny,
        _ => throw new ArgumentException($"Unknown --size '{size}' (full, deep, mid, mid-vision, tiny)."),
    };

    public static Gemma3Config Config(string size) => Gemma3Config.Parse((JsonObject)JsonNode.Parse(Json(size))!, "bench:" + size);

    /// <summary>Builds the model with random weights directly on the device (nn defaults: Linear Kaiming, embedding N(0, 0.02)).</summary>
    public static Gemma3ForConditionalGeneration Build(Gemma3Config config, Device device, ScalarType dtype)
    {
        TorchRuntime.ManualSeed(1234);
        var model = new Gemma3ForConditionalGeneration(config, device, dtype);
        model.eval();
        return model;
    }

    /// <summary>hf_bench.py's prompt: 5 chat tokens, boi, the image tokens, eoi, two newlines, then <paramref name="textLength"/> text ids.</summary>
    public static long[] Prompt(Gemma3Config c, int textLength)
    {
        var ids = new List<long> { 2, 105, 2364, 107, c.BoiTokenId };
        ids.AddRange(Enumerable.Repeat(c.ImageTokenId, c.MmTokensPerImage));
        ids.AddRange(new[] { c.EoiTokenId, 107L, 107L });
        ids.AddRange(Enumerable.Range(1000, textLength).Select(i => (long)i));
        return ids.ToArray();
    }

    /// <summary>(B, n) ids, token types and (B, 3, S, S) pixels on the device; the (B, n) attention mask on the host.</summary>
    public static (Tensor Ids, Tensor Mask, Tensor Types, Tensor Pixels) Batch(Gemma3Config c, int batch, int textLength, Device device, ScalarType dtype)
    {
        var prompt = Prompt(c, textLength);
        var ids = torch.tensor(Enumerable.Repeat(prompt, batch).SelectMany(p => p).ToArray(), new long[] { batch, prompt.Length }, device: device);
        // In host memory, as MedGemmaSession passes it: the generator then knows for free that nothing is padded
        // (a mask on the GPU would count as padded and take the slower masked decode path).
        var mask = torch.ones(ids.shape, dtype: ScalarType.Int64);
        var types = ids.eq(c.ImageTokenId).to(ScalarType.Int64);
        var pixels = torch.randn(new long[] { batch, c.Vision.NumChannels, c.Vision.ImageSize, c.Vision.ImageSize }, dtype: dtype, device: device);
        return (ids, mask, types, pixels);
    }

    public static Device ResolveDevice(BenchArgs a, bool cpuDefault)
    {
        var spec = a.Get("device") ?? (a.Has("cpu") || cpuDefault ? "cpu" : "auto");
        return TorchRuntime.Resolve(spec);
    }

    /// <summary>bf16 on a GPU (the reference's dtype), float32 on a CPU (CPU bf16 matmuls are emulated and slow) unless --dtype says.</summary>
    public static ScalarType ResolveDType(BenchArgs a, Device device) =>
        a.Get("dtype") is { } d ? TorchRuntime.ParseDType(d) : device.type == DeviceType.CUDA ? ScalarType.BFloat16 : ScalarType.Float32;

    public static long ParameterCount(nn.Module m) => m.parameters().Sum(p => p.numel());
}
