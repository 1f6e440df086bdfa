using System.Buffers.Binary;
using System.Text;
using MLArray.Medical.Nifti;

namespace MLArray.TestSupport;

/// <summary>
/// Hostile NIfTI/NRRD inputs, one per fault (truncated or corrupt compressed data, impossible header values, data files
/// too short or outside the header's folder), built from the medical corpus; used by the converter's tests (library)
/// and by <c>mlarray convert</c>'s tests (exit code and message).
/// </summary>
internal static class BadMedicalInputs
{
    /// <summary>Case name → (expected exception type, text the message must contain).</summary>
    public static TheoryData<string> Cases() =>
    [
        "truncated-nii-gz", "corrupt-gzip-stream", "gzip-crc-mismatch", "gzip-crc-mismatch-large", "vox-offset-beyond-file", "zero-dim", "negative-dim",
        "unknown-datatype", "unsupported-datatype", "nii-data-too-short", "pair-img-too-short", "nrrd-missing-type",
        "nrrd-missing-dimension", "nrrd-missing-sizes", "nrrd-missing-encoding", "nrrd-attached-too-short", "nrrd-detached-too-short",
        "nrrd-detached-gzip-too-short", "nrrd-data-file-parent", "nrrd-data-file-absolute", "nrrd-corrupt-bzip2", "nrrd-corrupt-gzip",
    ];

    /// <summary>
    /// Builds the bad input of a case in a folder of its own under <paramref name="root"/>; returns its path, the
    /// exception type and the parts its message must contain.
    /// </summary>
    public static (string Input, Type Expected, string[] Message) Make(string root, string name)
    {
        string P(string file) => Path.Combine(root, file);
        string dir = Directory.CreateDirectory(P("in-" + name)).FullName;
        string In(string file) => Path.Combine(dir, file);
        byte[] Corpus(string id) => File.ReadAllBytes(MedicalTestData.PathOf(id));
        string SmallNii(string file, Action<byte[]>? patch = null)
        {
            var eye = new double[4, 4];
            for (int i = 0; i < 4; i++) eye[i, i] = 1;
            string tmp = Path.Combine(root, "small-" + name + ".nii");
            Nifti.Write(tmp, NiftiImage.Create(new byte[4 * 5 * 6 * 2], DType.Int16, [4, 5, 6], eye));
            byte[] b = File.ReadAllBytes(tmp);
            File.Delete(tmp);
            patch?.Invoke(b);
            File.WriteAllBytes(In(file), b);
            return In(file);
        }

        string Nrrd(string file, string header, byte[] data)
        {
            File.WriteAllBytes(In(file), [.. Encoding.ASCII.GetBytes(header), .. data]);
            return In(file);
        }

        const string Ok = "NRRD0004\ntype: short\ndimension: 2\nsizes: 3 2\nendian: little\nencoding: raw\n";
        string Without(string field) => string.Join("\n", Ok.Split('\n').Where(l => !l.StartsWith(field + ":", StringComparison.Ordinal)));
        var F = typeof(MLArrayFormatException);
        var N = typeof(MLArrayNotSupportedException);
        switch (name)
        {
            case "truncated-nii-gz":
            {
                byte[] b = Corpus("dipy/aniso_vox.nii.gz");
                File.WriteAllBytes(In("cut.nii.gz"), b[..(b.Length / 2)]);
                return (In("cut.nii.gz"), F, ["cut.nii.gz", "ends early"]);
            }

            case "corrupt-gzip-stream":
            {
                byte[] b = Corpus("niivue/shear.nii.gz");
                b.AsSpan(b.Length / 2, 4096).Fill(0xA5);
                File.WriteAllBytes(In("garbled.nii.gz"), b);
                return (In("garbled.nii.gz"), F, ["garbled.nii.gz", "corrupt"]);
            }

            case "gzip-crc-mismatch":
            {
                // the deflate data is intact, only the gzip trailer's CRC32 is wrong: caught only by reading to the end
                byte[] b = Corpus("dipy/aniso_vox.nii.gz");
                b[^8] ^= 0xFF;
                File.WriteAllBytes(In("crc.nii.gz"), b);
                return (In("crc.nii.gz"), F, ["crc.nii.gz", "corrupt"]);
            }

            case "gzip-crc-mismatch-large":
            {
                // 2 MiB of voxels: the reader's last 1 MiB slab ends exactly where the deflate data ends
                var eye = new double[4, 4];
                for (int i = 0; i < 4; i++) eye[i, i] = 1;
                byte[] voxels = new byte[128 * 128 * 64 * 2];
                for (int i = 0; i < voxels.Length; i++) voxels[i] = (byte)((i * 31) ^ (i >> 9));
                Nifti.Write(In("big-crc.nii.gz"), NiftiImage.Create(voxels, DType.Int16, [128, 128, 64], eye));
                byte[] b = File.ReadAllBytes(In("big-crc.nii.gz"));
                b[^6] ^= 0x01;
                File.WriteAllBytes(In("big-crc.nii.gz"), b);
                return (In("big-crc.nii.gz"), F, ["big-crc.nii.gz", "corrupt"]);
            }

            case "vox-offset-beyond-file":
                return (SmallNii("far.nii", b => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(108), 1e6f)), F, ["far.nii", "vox_offset 1000000 is beyond the end"]);
            case "zero-dim":
                return (SmallNii("zero.nii", b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(44), 0)), F, ["zero.nii", "dim[2] = 0 (zero)"]);
            case "negative-dim":
                return (SmallNii("neg.nii", b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(46), -3)), F, ["neg.nii", "dim[3] = -3 (negative)"]);
            case "unknown-datatype":
                return (SmallNii("dt.nii", b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(70), 3)), F, ["dt.nii", "datatype code 3"]);
            case "unsupported-datatype":
                return (SmallNii("cplx256.nii", b => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(70), 2048)), N, ["cplx256.nii", "datatype code 2048"]);
            case "nii-data-too-short":
            {
                string p = SmallNii("short.nii");
                byte[] b = File.ReadAllBytes(p);
                File.WriteAllBytes(p, b[..^7]);
                return (p, F, ["short.nii", "data file too short"]);
            }

            case "pair-img-too-short":
            {
                // a detached NIfTI pair whose .img holds fewer bytes than the .hdr declares
                byte[] hdr = Corpus("niivue/ras.hdr");
                byte[] img = Corpus("niivue/ras.img");
                File.WriteAllBytes(In("pair.hdr"), hdr);
                File.WriteAllBytes(In("pair.img"), img[..(img.Length - 100)]);
                return (In("pair.hdr"), F, ["pair.img", "data file too short"]);
            }

            case "nrrd-missing-type": return (Nrrd("t.nrrd", Without("type") + "\n", new byte[12]), F, ["t.nrrd", "missing the required field 'type'"]);
            case "nrrd-missing-dimension": return (Nrrd("d.nrrd", Without("dimension") + "\n", new byte[12]), F, ["d.nrrd", "missing the required field 'dimension'"]);
            case "nrrd-missing-sizes": return (Nrrd("s.nrrd", Without("sizes") + "\n", new byte[12]), F, ["s.nrrd", "missing the required field 'sizes'"]);
            case "nrrd-missing-encoding": return (Nrrd("e.nrrd", Without("encoding") + "\n", new byte[12]), F, ["e.nrrd", "missing the required field 'encoding'"]);
            case "nrrd-attached-too-short": return (Nrrd("a.nrrd", Ok + "\n", new byte[11]), F, ["a.nrrd", "data file too short"]);
            case "nrrd-detached-too-short":
                File.WriteAllBytes(In("det.raw"), new byte[10]);
                return (Nrrd("det.nhdr", Ok + "data file: det.raw\n", []), F, ["det.raw", "data file too short"]);
            case "nrrd-detached-gzip-too-short":
            {
                byte[] gz = Corpus("i2nii/nrrd.raw.gz");
                File.WriteAllBytes(In("nrrd.raw.gz"), gz);
                string h = File.ReadAllText(MedicalTestData.PathOf("i2nii/nrrd.nhdr"));
                // declare one more slice than the data file holds
                string[] lines = h.Split('\n');
                int si = Array.FindIndex(lines, l => l.StartsWith("sizes:", StringComparison.Ordinal));
                long[] sizes = lines[si]["sizes:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
                sizes[^1] += 1;
                lines[si] = "sizes: " + string.Join(' ', sizes);
                File.WriteAllText(In("more.nhdr"), string.Join('\n', lines));
                return (In("more.nhdr"), F, ["nrrd.raw.gz", "ends early"]);
            }

            case "nrrd-data-file-parent":
                File.WriteAllBytes(P("outside.raw"), new byte[12]);
                return (Nrrd("up.nhdr", Ok + "data file: ../outside.raw\n", []), F, ["up.nhdr", "escapes the header's folder"]);
            case "nrrd-data-file-absolute":
                File.WriteAllBytes(P("abs.raw"), new byte[12]);
                return (Nrrd("abs.nhdr", Ok + $"data file: {P("abs.raw")}\n", []), F, ["abs.nhdr", "absolute path"]);
            case "nrrd-corrupt-bzip2":
            {
                byte[] b = Corpus("pynrrd/BallBinary30x30x30_bz2.nrrd");
                int start = Encoding.ASCII.GetString(b).IndexOf("\n\n", StringComparison.Ordinal) + 2;
                b.AsSpan(start + ((b.Length - start) / 2), 64).Fill(0x5A);
                File.WriteAllBytes(In("bad-bz2.nrrd"), b);
                return (In("bad-bz2.nrrd"), F, ["bad-bz2.nrrd", "bzip2"]);
            }

            case "nrrd-corrupt-gzip":
            {
                byte[] b = Corpus("pynrrd/BallBinary30x30x30_gz.nrrd");
                b[^5] ^= 0x40; // inside the trailer's CRC32
                File.WriteAllBytes(In("bad-gz.nrrd"), b);
                return (In("bad-gz.nrrd"), F, ["bad-gz.nrrd", "corrupt"]);
            }

            default:
                throw new ArgumentException(name);
        }
    }
}
