using System.Globalization;
using MLArray.Layout;
using MLArray.TestSupport;
using Xunit.Abstractions;

namespace MLArray.Tests.Api;

/// <summary>
/// NumPy slices with negative steps (<c>image[::-1]</c>, <c>image[5:1:-2]</c>), as the reference's arrays take them:
/// reads and writes through <see cref="MLArrayFile"/> checked against NumPy itself on the same selections.
/// </summary>
public sealed class NegativeStepTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mla-negstep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly long[] Shape = [7, 9, 11];

    // Several chunks and blocks per axis, so that backwards slices cross chunk and block edges.
    private string Make(string name)
    {
        string path = Path.Combine(_dir, name);
        var data = Enumerable.Range(0, 7 * 9 * 11).ToArray();
        using var image = MLArrayFile.FromArray<int>(data, Shape,
            new MLArrayCreateOptions { Layout = new LayoutOptions { ChunkSize = [3, 4, 5], BlockSize = [2, 2, 3] } });
        image.Save(path);
        return path;
    }

    /// <summary>Per axis "i:K" (an index) or "s:START:STOP:STEP" with "n" for a missing bound; axes separated by spaces.</summary>
    private static (NdIndex[] Selection, string Text) RandomSelection(Random rng)
    {
        int len = rng.Next(1, Shape.Length + 1);
        var sel = new NdIndex[len];
        var text = new string[len];
        for (int d = 0; d < len; d++)
        {
            long n = Shape[d];
            if (rng.Next(6) == 0)
            {
                long i = rng.NextInt64(-n, n);
                sel[d] = NdIndex.At(i);
                text[d] = FormattableString.Invariant($"i:{i}");
                continue;
            }
            long? a = rng.Next(3) == 0 ? null : rng.NextInt64(-n - 3, n + 3);
            long? b = rng.Next(3) == 0 ? null : rng.NextInt64(-n - 3, n + 3);
            long step = rng.Next(1, 5) * (rng.Next(3) == 0 ? 1 : -1);
            sel[d] = NdIndex.Slice(a, b, step);
            text[d] = FormattableString.Invariant($"s:{a?.ToString(CultureInfo.InvariantCulture) ?? "n"}:{b?.ToString(CultureInfo.InvariantCulture) ?? "n"}:{step}");
        }
        return (sel, string.Join(' ', text));
    }

    private const string Script = """
        import sys
        import numpy as np
        a = np.arange(7 * 9 * 11, dtype=np.int32).reshape(7, 9, 11)
        def key(line):
            out = []
            for tok in line.split():
                parts = tok.split(':')
                if parts[0] == 'i':
                    out.append(int(parts[1]))
                else:
                    v = [None if p == 'n' else int(p) for p in parts[1:]]
                    out.append(slice(*v))
            return tuple(out)
        for line in open(sys.argv[1]).read().splitlines():
            kind, sel = line.split('|')
            k = key(sel)
            if kind == 'r':
                r = a[k]
                print(' '.join(map(str, r.shape)) + '|' + ' '.join(map(str, r.ravel().tolist())))
            else:
                b = a.copy()
                n = b[k].size
                b[k] = (np.arange(n, dtype=np.int32) + 100000).reshape(b[k].shape)
                print('|' + ' '.join(map(str, b.ravel().tolist())))
        """;

    [PythonFact("numpy")]
    public void Reads_and_writes_with_negative_steps_equal_numpy()
    {
        string path = Make("a.mla");
        var rng = new Random(2026);
        var reads = Enumerable.Range(0, 300).Select(_ => RandomSelection(rng)).ToList();
        var writes = Enumerable.Range(0, 40).Select(_ => RandomSelection(rng)).ToList();
        string list = Path.Combine(_dir, "selections.txt");
        File.WriteAllLines(list, reads.Select(r => "r|" + r.Text).Concat(writes.Select(w => "w|" + w.Text)));
        var (code, stdout, stderr) = PythonScript.Run("numpy", Script, list);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(reads.Count + writes.Count, lines.Length);

        int backwards = 0;
        using (var image = MLArrayFile.Open(path))
            for (int i = 0; i < reads.Count; i++)
            {
                var parts = lines[i].Split('|');
                var shape = parts[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
                var values = parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
                var got = image.Read<int>(reads[i].Selection);
                Assert.True(values.SequenceEqual(got), $"a[{reads[i].Text}]: numpy [{parts[1]}], ours [{string.Join(' ', got)}]");
                if (shape.Length > 0) // (a selection of indices only: NumPy's 0-d result, a rank-0 tensor here)
                    Assert.Equal(shape, image.ToTensor<int>(reads[i].Selection).Lengths.ToArray().Select(x => (long)x));
                if (reads[i].Selection.Any(s => s.Step < 0) && got.Length > 1) backwards++;
            }
        Assert.True(backwards > 100, $"only {backwards} backwards reads with more than one element");

        for (int i = 0; i < writes.Count; i++)
        {
            string copy = Path.Combine(_dir, $"w{i}.mla");
            File.Copy(path, copy);
            var expected = lines[reads.Count + i].Split('|')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            using (var image = MLArrayFile.Open(copy, MLArrayMode.ReadWrite))
            {
                long n = image.ToTensor<int>(writes[i].Selection).FlattenedLength;
                var values = Enumerable.Range(100000, (int)n).ToArray();
                image.Write<int>(writes[i].Selection, values);
            }
            using var back = MLArrayFile.Open(copy);
            Assert.True(expected.SequenceEqual(back.Read<int>()), $"a[{writes[i].Text}] = ...: the file differs from numpy's array");
        }
        output.WriteLine($"{reads.Count} reads ({backwards} backwards) and {writes.Count} writes equal numpy");
    }

    [Fact]
    public void A_zero_step_is_refused_as_numpy_does_and_step_minus_one_reverses_the_axis()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => NdIndex.Slice(0, 5, 0));
        Assert.Contains("cannot be zero", e.Message, StringComparison.Ordinal);
        using var image = MLArrayFile.Open(Make("b.mla"));
        // [::-1] of a whole axis is that axis reversed: the last plane first
        var reversed = image.Read<int>(NdIndex.Slice(step: -1));
        var forward = image.Read<int>();
        for (int z = 0; z < 7; z++)
            Assert.True(forward.AsSpan(z * 99, 99).SequenceEqual(reversed.AsSpan((6 - z) * 99, 99)), $"plane {z}");
    }
}
