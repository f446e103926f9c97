namespace MedGemma.Engine.Imaging;

/// <summary>
/// Turns an <see cref="RgbImage"/> into the vision tower's input as Gemma3ImageProcessor does: resize to the configured
/// size (antialiased when shrinking), multiply by <c>rescale_factor</c>, normalise with <c>image_mean</c>/<c>image_std</c>,
/// channels first — bit for bit like the transformers implementation chosen by <see cref="ImageProcessorConfig.Backend"/>.
/// Immutable and thread-safe.
/// </summary>
public sealed class ImagePreprocessor
{
    public ImageProcessorConfig Config { get; }

    /// <summary>Per channel, byte value → normalised float, computed as numpy does it (see constructor).</summary>
    readonly float[][] lut;

    public ImagePreprocessor(ImageProcessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.ImageMean.Count != 3 || config.ImageStd.Count != 3)
            throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "InvalidProcessorConfig", "image_mean and image_std need 3 values.", config.SourcePath);
        Config = config;
        lut = new float[3][];
        var fast = config.Backend == ImageProcessorBackend.Torchvision;
        for (var c = 0; c < 3; c++)
        {
            lut[c] = new float[256];
            float mean = (float)config.ImageMean[c], std = (float)config.ImageStd[c];
            if (fast && config.DoRescale && config.DoNormalize)
            {
                // transformers' fast processors fold the rescale into mean/std (float32 tensors times 1/factor).
                var inv = (float)(1.0 / config.RescaleFactor);
                mean *= inv;
                std *= inv;
            }
            for (var v = 0; v < 256; v++)
            {
                float x = v;
                if (config.DoRescale && !(fast && config.DoNormalize))
                    x = fast ? v * (float)config.RescaleFactor : (float)(v * config.RescaleFactor); // float32 tensor op vs numpy float64 then cast
                lut[c][v] = config.DoNormalize ? (x - mean) / std : x;
            }
        }
        torchResize = fast && config.Resample == PillowFilter.Bilinear;
    }

    readonly bool torchResize;

    /// <summary>Loads the processor config of the model in <paramref name="modelFolder"/> (see <see cref="ImageProcessorConfig.Load"/>).</summary>
    public static ImagePreprocessor FromModelFolder(string modelFolder) => new(ImageProcessorConfig.Load(modelFolder));

    /// <summary>Floats per image: 3 × height × width of the output (the configured size; the image's own size when do_resize is false).</summary>
    public int OutputLength(RgbImage image)
    {
        var (w, h) = OutputSize(image);
        return 3 * w * h;
    }

    /// <summary>The output width and height for <paramref name="image"/>.</summary>
    public (int Width, int Height) OutputSize(RgbImage image) =>
        Config.DoResize ? (Config.Width, Config.Height) : (image.Width, image.Height);

    /// <summary>Preprocesses one image to a new CHW array of <see cref="OutputLength"/> floats.</summary>
    public float[] Preprocess(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var result = new float[OutputLength(image)];
        Preprocess(image, result);
        return result;
    }

    /// <summary>Preprocesses one image into <paramref name="destination"/> (exactly <see cref="OutputLength"/> floats, CHW).</summary>
    public void Preprocess(RgbImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (w, h) = OutputSize(image);
        var plane = w * h;
        if (destination.Length != 3 * plane)
            throw new ArgumentException($"Destination holds {destination.Length} floats; 3x{h}x{w} = {3 * plane} are needed.", nameof(destination));
        var pixels = Config.DoResize ? PillowResample.ResizeRgb(image.Pixels, image.Width, image.Height, w, h, Config.Resample, torchResize) : image.Pixels;
        var r = destination[..plane];
        var g = destination.Slice(plane, plane);
        var b = destination.Slice(2 * plane, plane);
        float[] lr = lut[0], lg = lut[1], lb = lut[2];
        for (var i = 0; i < plane; i++)
        {
            r[i] = lr[pixels[3 * i]];
            g[i] = lg[pixels[3 * i + 1]];
            b[i] = lb[pixels[3 * i + 2]];
        }
    }

    /// <summary>
    /// Preprocesses a batch into one N×3×H×W array (images in parallel, on at most <paramref name="maxThreads"/> threads
    /// when above 0). Requires do_resize (all outputs the same size) unless every image already has the same size.
    /// </summary>
    public float[] PreprocessBatch(IReadOnlyList<RgbImage> images, CancellationToken cancellationToken = default, int maxThreads = -1)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) return [];
        var size = OutputSize(images[0]);
        foreach (var im in images)
            if (OutputSize(im) != size)
                throw new MedGemmaException(MedGemmaErrorKind.InvalidArgument, "MixedImageSizes",
                    $"Image '{im.Source}' is {im.Width}x{im.Height}, but the batch needs {size.Width}x{size.Height} (do_resize is off).", im.Source);
        var each = 3 * size.Width * size.Height;
        var result = new float[checked(each * images.Count)];
        Parallel.For(0, images.Count, new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 },
            i => Preprocess(images[i], result.AsSpan(i * each, each)));
        return result;
    }
}
