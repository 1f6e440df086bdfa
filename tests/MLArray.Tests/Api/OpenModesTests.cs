using MLArray.Blosc2;

namespace MLArray.Tests.Api;

public sealed class OpenModesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-modes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Existing()
    {
        string p = Path.Combine(_dir, "a.mla");
        File.WriteAllBytes(p, [1]);
        return p;
    }

    [Theory]
    [InlineData("r", "r", B2ndOpenMode.Read)]
    [InlineData("r", "r+", B2ndOpenMode.ReadWrite)]
    [InlineData("a", "r+", B2ndOpenMode.ReadWrite)]
    [InlineData("r", "c", B2ndOpenMode.CopyOnWrite)]
    [InlineData("a", "c", B2ndOpenMode.CopyOnWrite)]
    [InlineData("r", null, B2ndOpenMode.Read)]
    [InlineData("a", null, B2ndOpenMode.ReadWrite)]
    [InlineData("a", "r", B2ndOpenMode.Read)]
    public void Open_modes_map_like_the_reference(string mode, string? mmap, B2ndOpenMode expected) =>
        Assert.Equal(expected, OpenModes.ResolveOpen(Existing(), mode, mmap));

    [Fact]
    public void Open_checks_in_the_reference_order_with_its_messages()
    {
        Assert.Equal("MLArray requires '.mla' as extension.", Assert.Throws<ArgumentException>(() => OpenModes.ResolveOpen(Path.Combine(_dir, "x.MLA"), "bad", "bad")).Message.Split(" (Parameter")[0]);
        string missing = Path.Combine(_dir, "missing.mla");
        Assert.Equal($"No MLArray file exists under {missing}.", Assert.Throws<FileNotFoundException>(() => OpenModes.ResolveOpen(missing, "bad")).Message);
        Assert.StartsWith("mode must be one of the following: 'r', 'a'", Assert.Throws<ArgumentException>(() => OpenModes.ResolveOpen(Existing(), "w", "bad")).Message, StringComparison.Ordinal);
        Assert.StartsWith("mmap_mode must be one of the following: 'r', 'r+', 'c', None", Assert.Throws<ArgumentException>(() => OpenModes.ResolveOpen(Existing(), "r", "w+")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_checks_with_the_reference_messages()
    {
        OpenModes.ValidateCreate(Path.Combine(_dir, "n.mla"));
        OpenModes.ValidateCreate(Path.Combine(_dir, "n.mla"), "w", null);
        Assert.StartsWith("MLArray requires '.mla' as extension.", Assert.Throws<ArgumentException>(() => OpenModes.ValidateCreate("n.npy")).Message, StringComparison.Ordinal);
        Assert.StartsWith("mode must be 'w'.", Assert.Throws<ArgumentException>(() => OpenModes.ValidateCreate("n.mla", "a")).Message, StringComparison.Ordinal);
        Assert.StartsWith("mmap_mode must be one of the following: 'w+', None", Assert.Throws<ArgumentException>(() => OpenModes.ValidateCreate("n.mla", "w", "r+")).Message, StringComparison.Ordinal);
    }
}
