using MedGemma.Engine.Config;
using MedGemma.Engine.Model;
using MedGemma.Engine.Tests.Support;
using MedGemma.Engine.Training;

namespace MedGemma.Engine.Tests.Training;

/// <summary>Collation prepares a batch's samples on several threads; the batch must still be in index order.</summary>
public class CollateTests
{
    static PreparedSample Sample(int i)
    {
        // Different lengths (right padding), ids and pixels that name the sample.
        var ids = Enumerable.Range(0, 5 + i).Select(k => (long)(10 * i + k % 10)).ToArray();
        return new PreparedSample(ids, new long[ids.Length], ids.Select(t => t).ToArray(), Enumerable.Repeat((float)i, 3 * 56 * 56).ToArray());
    }

    [Fact]
    public void SamplesPreparedOnSeveralThreadsAreCollatedInIndexOrder()
    {
        using var network = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Fixtures.Folder("tiny-gemma3")));
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        var task = new Gemma3TrainingTask(network, (validation, i) =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            Thread.Sleep(40 - 4 * i);   // later indices finish first
            return Sample(i);
        }, 8, 0, padId: 0);
        int[] order = [5, 2, 7, 0];
        using var batch = task.Collate(false, order);
        var ids = batch.Tensors["input_ids"];
        var pixels = batch.Tensors["pixel_values"].to(TorchSharp.torch.ScalarType.Float32);
        Assert.Equal(new long[] { 4, 12 }, ids.shape);
        for (int r = 0; r < order.Length; r++)
        {
            var expected = Sample(order[r]).InputIds;
            Assert.Equal(expected, ids[r].data<long>().Take(expected.Length).ToArray());
            Assert.Equal(order[r], pixels[r].mean().item<float>(), 5);
        }
        if (Environment.ProcessorCount > 1) Assert.True(threads.Count > 1, "samples were prepared on one thread");
    }

    [Fact]
    public void TheFirstFailingSampleOfTheBatchIsTheError()
    {
        using var network = new Gemma3ForConditionalGeneration(Gemma3Config.Load(Fixtures.Folder("tiny-gemma3")));
        var task = new Gemma3TrainingTask(network, (validation, i) => i switch
        {
            7 => throw new InvalidDataException("sample 7"),
            2 => throw new FileNotFoundException("sample 2"),
            _ => Sample(i),
        }, 8, 0, padId: 0);
        var e = Assert.Throws<FileNotFoundException>(() => task.Collate(false, [5, 2, 7, 0]));
        Assert.Equal("sample 2", e.Message);
    }
}
