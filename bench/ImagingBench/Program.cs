using System.Diagnostics;
using System.Reflection;
using MedGemma.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

// Measures: decode of a ~2000x3000 JPEG, the Pillow-exact resize alone (each pass), and full preprocessing to 896.
var tmp = Path.Combine(Path.GetTempPath(), "medgemma-bench-2000x3000.jpg");
if (args.Length > 0) tmp = args[0];
else if (!File.Exists(tmp))
{
    using var gen = new Image<Rgb24>(2000, 3000);
    var rnd = new Random(1);
    for (var y = 0; y < 3000; y++)
        for (var x = 0; x < 2000; x++)
            gen[x, y] = new Rgb24((byte)(x / 8 + y / 16), (byte)((x ^ y) >> 3), (byte)(128 + rnd.Next(32)));
    gen.SaveAsJpeg(tmp);
}

var resize = typeof(ImageLoader).Assembly.GetType("MedGemma.Engine.Imaging.PillowResample")!
    .GetMethod("ResizeRgb", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)!;

var img = ImageLoader.Load(tmp);
var pre = new ImagePreprocessor(new ImageProcessorConfig { Width = 896, Height = 896 });
Time($"decode {img.Width}x{img.Height} JPEG", () => ImageLoader.Load(tmp));
Time("horizontal pass only (-> 896 x H)", () => resize.Invoke(null, [img.Pixels, img.Width, img.Height, 896, img.Height, PillowFilter.Bilinear, true]));
Time("vertical pass only (-> W x 896)", () => resize.Invoke(null, [img.Pixels, img.Width, img.Height, img.Width, 896, PillowFilter.Bilinear, true]));
Time("resize -> 896x896", () => resize.Invoke(null, [img.Pixels, img.Width, img.Height, 896, 896, PillowFilter.Bilinear, true]));
Time("preprocess -> 3x896x896 floats", () => pre.Preprocess(img));
Time("load + preprocess", () => pre.Preprocess(ImageLoader.Load(tmp)));

static void Time(string what, Action a)
{
    a();
    var proc = Process.GetCurrentProcess();
    var times = new List<double>();
    var cpu0 = proc.TotalProcessorTime;
    for (var i = 0; i < 7; i++)
    {
        var sw = Stopwatch.StartNew();
        a();
        times.Add(sw.Elapsed.TotalMilliseconds);
    }
    proc.Refresh();
    var cpu = (proc.TotalProcessorTime - cpu0).TotalMilliseconds / 7;
    times.Sort();
    Console.WriteLine($"{what,-36} median {times[3],7:F1} ms  best {times[0],7:F1} ms  cpu {cpu,7:F1} ms/iter  ({Environment.ProcessorCount} cores)");
}
