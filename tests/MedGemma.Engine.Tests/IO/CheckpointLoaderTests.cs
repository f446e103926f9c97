using MedGemma.Engine.IO;
using MedGemma.Engine.Tests.Support;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.IO;

public class CheckpointLoaderTests
{
    static string Tiny(string file) => Path.Combine(Fixtures.Folder("tiny-gemma3"), file);

    /// <summary>A stand-in model whose state dict has the v5 keys and shapes of <paramref name="file"/>.</summary>
    static ParamTree TreeFor(string file, ScalarType dtype)
    {
        using var f = SafeTensorsFile.Open(file);
        return ParamTree.Build(f.Entries.Select(e => (KeyLayout.ToModuleKey(e.Name), e.Shape)), dtype);
    }

    [Theory]
    [InlineData("model.safetensors", false, 0)]
    [InlineData("model.published-layout.safetensors", false, 0)]
    [InlineData("model.v5-layout.safetensors", false, 0)]
    [InlineData("model.published-layout.safetensors", true, 0)]
    [InlineData("model.published-layout.safetensors", true, 1000)] // tensors staged in 250-element pieces
    [InlineData("model.v5-layout.safetensors", true, 28)]         // 7-element pieces: rows split across chunks
    public void LoadsEachLayoutStrictlyWithExactValues(string file, bool staged, long chunkBytes)
    {
        using var model = TreeFor(Tiny("model.v5-layout.safetensors"), ScalarType.Float32);
        var seen = new List<LoadProgress>();
        var report = CheckpointLoader.Load(model, Tiny(file), CPU, ScalarType.Float32, new SyncProgress<LoadProgress>(seen.Add), default, staged, chunkBytes);
        var raws = RawSafeTensors.ReadAll(Tiny(file)).ToDictionary(r => KeyLayout.ToModuleKey(r.Name));
        var sd = model.state_dict();
        Assert.Equal(raws.Count, report.Tensors);
        foreach (var (key, t) in sd)
            Assert.Equal(RawSafeTensors.F32(raws[key].Bytes), t.data<float>().ToArray());
        Assert.Equal(raws.Count, seen.Count);
        Assert.Equal(seen[^1].BytesTotal, seen[^1].BytesDone);
        Assert.Equal(raws.Values.Sum(r => (long)r.Bytes.Length), report.Bytes);
    }

    [Fact]
    public void FileOrFolderSelectsTheSingleFile()
    {
        using var tmp = new TempDir();
        File.Copy(Tiny("model.published-layout.safetensors"), tmp.File(CheckpointFiles.SingleFileName));
        using var model = TreeFor(Tiny("model.v5-layout.safetensors"), ScalarType.Float32);
        var report = CheckpointLoader.Load(model, tmp.Path, CPU, ScalarType.Float32);
        Assert.Equal(new[] { tmp.File(CheckpointFiles.SingleFileName) }, report.Files);
        Assert.Equal(model.state_dict().Count, report.Tensors);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false, 0)]
    [InlineData(ScalarType.Float32, false, 0)]
    [InlineData(ScalarType.Float16, false, 0)]
    [InlineData(ScalarType.BFloat16, true, 0)]
    [InlineData(ScalarType.Float32, true, 0)]
    [InlineData(ScalarType.BFloat16, true, 4098)] // 2049-element pieces: tensors end mid-chunk
    [InlineData(ScalarType.Float32, true, 4098)]  // converting bf16 pieces to float32 on the way
    public void LoadsTheShardedBf16SnapshotIntoEachDType(ScalarType dtype, bool staged, long chunkBytes)
    {
        var folder = Fixtures.Folder("tiny-medgemma-snapshot");
        var resolved = CheckpointFiles.Resolve(folder);
        var raws = resolved.Files.SelectMany(RawSafeTensors.ReadAll).ToDictionary(r => KeyLayout.ToModuleKey(r.Name));
        using var model = ParamTree.Build(raws.Select(kv => (kv.Key, kv.Value.Shape)), dtype);
        CheckpointLoader.Load(model, folder, CPU, dtype, null, default, staged, chunkBytes);
        foreach (var (key, t) in model.state_dict())
        {
            using var expected = tensor(RawSafeTensors.Bf16ToFloat(raws[key].Bytes)).reshape(raws[key].Shape).to(dtype);
            Assert.True(t.Equals(expected), key);
        }
    }

    [Fact]
    public void NonPersistentBuffersAreNotExpectedButPersistentOnesAre()
    {
        var v5 = Tiny("model.v5-layout.safetensors");
        using var model = TreeFor(v5, ScalarType.Float32);
        model.AddBuffer("model.language_model.rotary_emb.inv_freq", ones(4), persistent: false);
        CheckpointLoader.Load(model, v5, CPU, ScalarType.Float32);
        model.AddBuffer("model.language_model.some_state", ones(4), persistent: true);
        var ex = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(model, v5, CPU, ScalarType.Float32));
        Assert.Equal("MissingCheckpointKey", ex.ErrorId);
        Assert.Equal("model.language_model.some_state", ex.Target);
    }

    [Fact]
    public void MissingAndUnexpectedKeysAreNamed()
    {
        var v5 = Tiny("model.v5-layout.safetensors");
        using var f = SafeTensorsFile.Open(v5);
        var keys = f.Entries.Select(e => (e.Name, e.Shape)).ToList();

        using var bigger = ParamTree.Build(keys.Append(("model.extra.weight", new long[] { 2 })), ScalarType.Float32);
        var missing = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(bigger, v5, CPU, ScalarType.Float32));
        Assert.Equal(("MissingCheckpointKey", MedGemmaErrorKind.InvalidData), (missing.ErrorId, missing.Kind));
        Assert.Contains("model.extra.weight", missing.Message);

        var dropped = keys.First(k => k.Name.Contains("q_proj"));
        using var smaller = ParamTree.Build(keys.Where(k => k != dropped), ScalarType.Float32);
        var unexpected = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(smaller, v5, CPU, ScalarType.Float32));
        Assert.Equal("UnexpectedCheckpointKey", unexpected.ErrorId);
        Assert.Equal($"{Path.GetFullPath(v5)}:{dropped.Name}", unexpected.Target);
        Assert.Contains(v5.Split('/').Last(), unexpected.Message);
    }

    [Fact]
    public void ShapeMismatchFailsBeforeAnyWeightIsCopied()
    {
        var v5 = Tiny("model.v5-layout.safetensors");
        using var f = SafeTensorsFile.Open(v5);
        var bad = f.Entries.Last(e => e.Shape.Length == 2);
        using var model = ParamTree.Build(f.Entries.Select(e => (e.Name, e == bad ? new[] { e.Shape[0], e.Shape[1] + 1 } : e.Shape)), ScalarType.Float32);
        var ex = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(model, v5, CPU, ScalarType.Float32));
        Assert.Equal("CheckpointShapeMismatch", ex.ErrorId);
        Assert.Equal($"{Path.GetFullPath(v5)}:{bad.Name}", ex.Target);
        Assert.All(model.state_dict().Values, t => Assert.Equal(0, t.abs().sum().item<float>()));
    }

    [Fact]
    public void ModelInAnotherDTypeIsAnInvalidArgument()
    {
        using var model = TreeFor(Tiny("model.v5-layout.safetensors"), ScalarType.Float32);
        var ex = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(model, Tiny("model.safetensors"), CPU, ScalarType.BFloat16));
        Assert.Equal((MedGemmaErrorKind.InvalidArgument, "ModelNotInTargetDType"), (ex.Kind, ex.ErrorId));
    }

    [Fact]
    public void LmHeadInTheCheckpointIsDroppedAsTiedAndFilledWhenTheModelHasOne()
    {
        using var tmp = new TempDir();
        var v5 = Tiny("model.v5-layout.safetensors");
        var withHead = tmp.File("with-head.safetensors");
        using (var f = SafeTensorsFile.Open(v5))
        {
            var all = f.Entries.Select(e => new KeyValuePair<string, Tensor>(e.Name, f.Read(e.Name))).ToList();
            var embed = all.Single(kv => kv.Key == KeyLayout.EmbedTokensKey).Value;
            SafeTensorsWriter.Write(withHead, all.Append(new("lm_head.weight", embed.clone())));
        }
        using var model = TreeFor(v5, ScalarType.Float32);
        var report = CheckpointLoader.Load(model, withHead, CPU, ScalarType.Float32);
        Assert.Equal(new[] { KeyLayout.LmHeadKey }, report.TiedKeys);

        using var untied = TreeFor(v5, ScalarType.Float32);
        var embedShape = untied.state_dict()[KeyLayout.EmbedTokensKey].shape;
        untied.Add(KeyLayout.LmHeadKey, new TorchSharp.Modules.Parameter(zeros(embedShape)));
        CheckpointLoader.Load(untied, v5, CPU, ScalarType.Float32);
        var sd = untied.state_dict();
        Assert.True(sd[KeyLayout.LmHeadKey].Equals(sd[KeyLayout.EmbedTokensKey]));
        Assert.NotEqual(0, sd[KeyLayout.LmHeadKey].abs().sum().item<float>());
    }

    [Fact]
    public void DuplicateWeightUnderTwoLayoutsIsRejected()
    {
        using var tmp = new TempDir();
        var path = tmp.File("dup.safetensors");
        using var a = ones(2);
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["vision_tower.post_layernorm.bias"] = a, ["model.vision_tower.post_layernorm.bias"] = a });
        using var model = ParamTree.Build(new[] { ("model.vision_tower.post_layernorm.bias", new long[] { 2 }) }, ScalarType.Float32);
        var ex = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(model, path, CPU, ScalarType.Float32));
        Assert.Equal("DuplicateCheckpointKey", ex.ErrorId);
    }

    [Fact]
    public void CancellationStopsTheLoad()
    {
        using var model = TreeFor(Tiny("model.v5-layout.safetensors"), ScalarType.Float32);
        using var cts = new CancellationTokenSource();
        var ex = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(model, Tiny("model.safetensors"), CPU, ScalarType.Float32,
            new SyncProgress<LoadProgress>(p => { if (p.TensorsDone == 3) cts.Cancel(); }), cts.Token));
        Assert.Equal(MedGemmaErrorKind.Cancelled, ex.Kind);
    }

    [Fact]
    public void IndexProblemsAreNamed()
    {
        var snapshot = Fixtures.Folder("tiny-medgemma-snapshot");
        using var tmp = new TempDir();
        foreach (var f in Directory.GetFiles(snapshot, "*.safetensors*")) File.Copy(f, tmp.File(Path.GetFileName(f)));
        var index = tmp.File(CheckpointFiles.IndexFileName);
        var good = File.ReadAllText(index);
        var shard2 = "model-00002-of-00002.safetensors";

        File.Move(tmp.File(shard2), tmp.File("moved.safetensors"));
        var ex = Assert.Throws<MedGemmaException>(() => CheckpointFiles.Resolve(tmp.Path));
        Assert.Equal((MedGemmaErrorKind.NotFound, "CheckpointShardNotFound", tmp.File(shard2)), (ex.Kind, ex.ErrorId, (string)ex.Target!));
        File.Move(tmp.File("moved.safetensors"), tmp.File(shard2));

        File.WriteAllText(index, good[..(good.Length / 2)]);
        ex = Assert.Throws<MedGemmaException>(() => CheckpointFiles.Resolve(tmp.Path));
        Assert.Equal((MedGemmaErrorKind.InvalidData, "CheckpointBadIndex", index), (ex.Kind, ex.ErrorId, (string)ex.Target!));

        File.WriteAllText(index, good.Replace("\"model-00002-of-00002.safetensors\"", "\"../model-00002-of-00002.safetensors\""));
        ex = Assert.Throws<MedGemmaException>(() => CheckpointFiles.Resolve(tmp.Path));
        Assert.Equal("CheckpointBadIndex", ex.ErrorId);

        // An index that misplaces one tensor: caught before loading.
        var moved = "\"language_model.model.norm.weight\": \"model-00002-of-00002.safetensors\"";
        Assert.Contains(moved, good);
        File.WriteAllText(index, good.Replace(moved, moved.Replace("00002-of", "00001-of")));
        using var model = ParamTree.Build(new[] { ("x", new long[] { 1 }) }, ScalarType.Float32);
        ex = Assert.Throws<MedGemmaException>(() => CheckpointLoader.Load(model, tmp.Path, CPU, ScalarType.Float32));
        Assert.Equal("CheckpointIndexMismatch", ex.ErrorId);

        var empty = Path.Combine(tmp.Path, "empty");
        Directory.CreateDirectory(empty);
        ex = Assert.Throws<MedGemmaException>(() => CheckpointFiles.Resolve(empty));
        Assert.Equal((MedGemmaErrorKind.NotFound, empty), (ex.Kind, (string)ex.Target!));
    }
}

/// <summary>Progress&lt;T&gt; posts to the thread pool; tests need the callback inline.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
