using MedGemma.Engine.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedGemma.Engine.Tests.Model;

/// <summary>
/// <see cref="AttentionMasks.Additive"/>: the boolean masks in SDPA's additive form, built once per forward. SDPA given
/// it must attend exactly as SDPA given the boolean mask, for every row that has an allowed key; its rows must sit at a
/// stride the memory-efficient kernel takes without a copy.
/// </summary>
public sealed class AdditiveMaskTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(ScalarType.Float32, 7)]
    [InlineData(ScalarType.Float32, 32)]
    [InlineData(ScalarType.BFloat16, 21)]
    [InlineData(ScalarType.Float64, 1)]
    public void ZeroWhereAllowedLowestElsewhereRowsAlignedTo16(ScalarType dtype, int length)
    {
        using var scope = torch.NewDisposeScope();
        var mask = torch.rand(2, 1, 3, length, generator: new torch.Generator(7)).gt(0.4);
        var bias = AttentionMasks.Additive(mask, dtype)!;
        Assert.Equal(mask.shape, bias.shape);
        Assert.Equal(dtype, bias.dtype);
        Assert.Equal(1, bias.stride(-1));
        for (var d = 0; d < bias.dim() - 1; d++) Assert.True(bias.stride(d) % 16 == 0, $"stride {d} = {bias.stride(d)}");
        var lowest = dtype switch
        {
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float32 => float.MinValue,
            _ => double.MinValue,
        };
        var values = bias.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        var allowed = mask.contiguous().data<bool>().ToArray();
        for (var i = 0; i < values.Length; i++)
            Assert.Equal(allowed[i] ? 0.0 : lowest, values[i]);
        Assert.True(double.IsFinite(lowest));
    }

    [Fact]
    public void NoMaskGivesNone() => Assert.Null(AttentionMasks.Additive(null, ScalarType.Float32));

    [Theory]
    [InlineData(ScalarType.Float32, 1, 19)]
    [InlineData(ScalarType.Float32, 5, 40)]
    [InlineData(ScalarType.BFloat16, 2, 23)]
    public void SdpaAttendsAsWithTheBooleanMask(ScalarType dtype, int queries, int keys)
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(11);
        var q = torch.randn(new long[] { 2, 4, queries, 16 }, generator: g).to(dtype);
        var k = torch.randn(new long[] { 2, 4, keys, 16 }, generator: g).mul(3).to(dtype);
        var v = torch.randn(new long[] { 2, 4, keys, 16 }, generator: g).to(dtype);
        // Random masks, broadcast over heads, each row with its first key allowed (as a decoded token sees itself).
        var mask = torch.rand(new long[] { 2, 1, queries, keys }, generator: g).gt(0.5);
        mask.select(-1, 0).fill_(true);
        var expected = nn.functional.scaled_dot_product_attention(q, k, v, mask, 0.0, false);
        var actual = nn.functional.scaled_dot_product_attention(q, k, v, AttentionMasks.Additive(mask, dtype), 0.0, false);
        var d = (actual.to(ScalarType.Float32) - expected.to(ScalarType.Float32)).abs().max().item<float>();
        output.WriteLine($"{dtype}, {queries} queries, {keys} keys: max |additive - boolean| = {d:E2}");
        Assert.Equal(0f, d);
    }
}
