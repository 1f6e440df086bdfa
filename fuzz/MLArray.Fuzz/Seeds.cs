using MLArray.Blosc2.Format;
using MLArray.Metadata.Payload;

namespace MLArray.Fuzz;

/// <summary>
/// <c>MLArray.Fuzz make-seeds &lt;tests/data&gt; &lt;fuzz/seeds&gt;</c>: extracts the seeds that are parts of corpus
/// files — chunks of every codec and filter from the Blosc2 corpus frames (chunk target), the "mlarray" vlmeta values
/// (vlmeta target) and their gzip'd and plain pickles (pickle target). Whole files (frames, npy, NIfTI, NRRD) are
/// copied by <c>fuzz/make-seeds.sh</c>.
/// </summary>
internal static class Seeds
{
    private const int MaxSeedBytes = 64 << 10;

    public static int Make(string data, string seeds)
    {
        string chunkDir = Directory.CreateDirectory(Path.Combine(seeds, "chunk")).FullName;
        string vlmetaDir = Directory.CreateDirectory(Path.Combine(seeds, "vlmeta")).FullName;
        string pickleDir = Directory.CreateDirectory(Path.Combine(seeds, "pickle")).FullName;
        var seen = new HashSet<string>();
        int chunks = 0, metas = 0;

        // Chunks: chunk 0 and the last chunk of each corpus frame (codecs x filters x typesizes; special chunks).
        foreach (string file in Directory.GetFiles(Path.Combine(data, "blosc2"), "*.mla").Order(StringComparer.Ordinal))
        {
            byte[] frame = File.ReadAllBytes(file);
            var reader = FrameReader.Open(new MemoryFrameSource(frame, file));
            var buffer = Array.Empty<byte>();
            foreach (long i in new[] { 0L, reader.NChunks - 1 }.Distinct())
            {
                if (i < 0 || i >= reader.NChunks)
                    continue;
                byte[] chunk = reader.ReadChunk(i, ref buffer, out _).ToArray();
                if (chunk.Length > MaxSeedBytes || !seen.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(chunk))))
                    continue;
                File.WriteAllBytes(Path.Combine(chunkDir, $"{Path.GetFileNameWithoutExtension(file)}.c{i}"), chunk);
                chunks++;
            }
        }

        // vlmeta values and pickles: the "mlarray" entry of every valid conformance file.
        foreach (string file in Directory.GetFiles(Path.Combine(data, "mla"), "*.mla").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileNameWithoutExtension(file);
            byte[]? content;
            try
            {
                content = FrameReader.Open(new MemoryFrameSource(File.ReadAllBytes(file), file)).GetVlMeta("mlarray");
            }
            catch (MLArrayException)
            {
                continue; // the corrupt_* files
            }

            if (content is null || content.Length > MaxSeedBytes)
                continue;
            File.WriteAllBytes(Path.Combine(vlmetaDir, name + ".vlmeta"), content);
            metas++;
            if (!MetaMsgpack.IsBin(content))
                continue;
            byte[] gz = MetaMsgpack.ReadBin(content).ToArray();
            File.WriteAllBytes(Path.Combine(pickleDir, name + ".pickle.gz"), gz);
            try
            {
                byte[] pickle = BoundedGzip.Decompress(gz, MaxSeedBytes);
                File.WriteAllBytes(Path.Combine(pickleDir, name + ".pickle"), pickle);
            }
            catch (MLArrayException)
            {
                // the gzip bomb stays a .gz seed only
            }
        }

        Console.WriteLine($"{chunks} chunk seeds, {metas} vlmeta seeds");
        return 0;
    }
}
