using MedGemma.Engine.Config;
using MedGemma.Engine.Generation;
using MedGemma.Engine.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedGemma.Engine.Model;

/// <summary>
/// A loaded model folder: config, generation config and weights on one device. The simple entry point for
/// the rest of the engine (captioning, training, the server).
/// </summary>
public sealed class MedGemmaModel : IDisposable
{
    public Gemma3Config Config { get; }
    public GenerationConfig GenerationConfig { get; }
    public Gemma3ForConditionalGeneration Network { get; }
    public Device Device { get; }
    public ScalarType DType { get; }

    MedGemmaModel(Gemma3Config config, GenerationConfig generation, Gemma3ForConditionalGeneration network, Device device, ScalarType dtype)
    {
        Config = config;
        GenerationConfig = generation;
        Network = network;
        Device = device;
        DType = dtype;
    }

    /// <summary>
    /// Reads config.json and generation_config.json, builds the model on <paramref name="device"/> in
    /// <paramref name="dtype"/> (Float32 or BFloat16) and loads the safetensors weights strictly.
    /// </summary>
    public static MedGemmaModel Load(string folder, Device device, ScalarType dtype,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
            throw new MedGemmaException(MedGemmaErrorKind.NotSupported, "UnsupportedDType", $"Models run in Float32, BFloat16 or Float16, not {dtype}.", dtype);
        if (!Directory.Exists(folder))
            throw new MedGemmaException(MedGemmaErrorKind.NotFound, "ModelFolderNotFound", $"Model folder not found: {folder}", folder);
        var config = Gemma3Config.Load(folder);
        var generation = GenerationConfig.Load(folder, config);
        // No random initialisation: the strict load below overwrites every weight.
        var network = Gemma3ForConditionalGeneration.CreateUninitialized(config, device, dtype);
        try
        {
            CheckpointLoader.Load(network, folder, device, dtype, progress, cancellationToken);
            network.eval();
            return new MedGemmaModel(config, generation, network, device, dtype);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>One forward pass (see <see cref="Gemma3Inputs"/>); gradients follow the caller's grad mode.</summary>
    public ForwardOutput Forward(Gemma3Inputs inputs) => Network.Forward(inputs);

    /// <summary>A step-wise generator for the batch (left padding allowed); dispose it when done.</summary>
    public TokenGenerator StartGeneration(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask, Tensor? tokenTypeIds, GenerationOptions options) =>
        new(Network, inputIds, pixelValues, attentionMask, tokenTypeIds, options, GenerationConfig);

    /// <summary>
    /// Generates for a batch and returns, per row, the new ids (rectangular: after a row's eos comes the pad id).
    /// <paramref name="pixelValues"/> holds one image per image-token block, in order.
    /// </summary>
    public long[][] Generate(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask, Tensor? tokenTypeIds,
        GenerationOptions options, CancellationToken cancellationToken = default, IProgress<int>? progress = null)
    {
        using var generator = StartGeneration(inputIds, pixelValues, attentionMask, tokenTypeIds, options);
        var tokens = generator.Run(cancellationToken, progress);
        LastDecodeSteps = generator.DecodeSteps;
        return tokens;
    }

    /// <summary>How the last completed <see cref="Generate(Tensor, Tensor?, Tensor?, Tensor?, GenerationOptions, CancellationToken, IProgress{int}?)"/> ran its steps after the prompt (<see cref="TokenGenerator.DecodeSteps"/>); null before the first.</summary>
    public string? LastDecodeSteps { get; private set; }

    /// <summary>Plain-array overload for callers without TorchSharp: equal-length (already padded) rows.</summary>
    public long[][] Generate(long[][] inputIds, float[]? pixelValues, long[][]? attentionMask, long[][]? tokenTypeIds,
        GenerationOptions options, CancellationToken cancellationToken = default, IProgress<int>? progress = null)
    {
        using var scope = torch.NewDisposeScope();
        var vocab = Config.Text.VocabSize;
        foreach (var row in inputIds ?? throw new ArgumentNullException(nameof(inputIds)))
            foreach (var id in row)
                if (id < 0 || id >= vocab)
                    throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "TokenIdOutOfRange", $"Token id {id} is outside the vocabulary (0..{vocab - 1}).", "inputIds");
        var ids = ToTensor(inputIds, "inputIds");
        var mask = attentionMask is null ? null : ToTensor(attentionMask, "attentionMask");
        var types = tokenTypeIds is null ? null : ToTensor(tokenTypeIds, "tokenTypeIds");
        Tensor? pixels = null;
        if (pixelValues is not null)
        {
            var v = Config.Vision;
            long per = (long)v.NumChannels * v.ImageSize * v.ImageSize;
            if (pixelValues.Length == 0 || pixelValues.Length % per != 0)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "PixelValuesShape",
                    $"pixelValues must hold whole {v.NumChannels}x{v.ImageSize}x{v.ImageSize} images ({per} floats each), got {pixelValues.Length}.", "pixelValues");
            pixels = torch.tensor(pixelValues, new long[] { pixelValues.Length / per, v.NumChannels, v.ImageSize, v.ImageSize });
        }
        return Generate(ids, pixels, mask, types, options, cancellationToken, progress);
    }

    static Tensor ToTensor(long[][] rows, string name)
    {
        if (rows.Length == 0 || rows[0].Length == 0 || rows.Any(r => r.Length != rows[0].Length))
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "RaggedBatch", $"{name} must be non-empty rows of equal length (pad on the left).", name);
        return torch.tensor(rows.SelectMany(r => r).ToArray(), new long[] { rows.Length, rows[0].Length });
    }

    public void Dispose() => Network.Dispose();
}
