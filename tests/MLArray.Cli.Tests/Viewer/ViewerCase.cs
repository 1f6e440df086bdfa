using MLArray.Conversion;
using MLArray.Metadata;
using MLArray.TestSupport;

namespace MLArray.Cli.Tests.Viewer;

/// <summary>
/// The image the viewer tests open: niftijs/avg152T1_LR_nifti.nii (MNI T1 template, 91×109×91 uint8, 2 mm, LPS after
/// import) converted to .mla, and a segmentation derived from it on the same grid (1: 90 &lt; v ≤ 150, 2: v &gt; 150).
/// </summary>
public sealed class ViewerCase : IDisposable
{
    public ViewerCase()
    {
        Dir = Directory.CreateTempSubdirectory("mla-view-").FullName;
        Image = Path.Combine(Dir, "t1.mla");
        Seg = Path.Combine(Dir, "t1_seg.mla");
        MedicalConverter.ToMLArray(MedicalTestData.PathOf("niftijs/avg152T1_LR_nifti.nii"), Image);
        using var im = MLArrayFile.Open(Image);
        byte[] v = im.ToArray<byte>();
        byte[] labels = v.Select(x => (byte)(x > 150 ? 2 : x > 90 ? 1 : 0)).ToArray();
        using var seg = MLArrayFile.FromArray(labels, im.Shape, new MLArrayCreateOptions { Copy = im, Meta = im.Meta with { IsSeg = true } });
        seg.Save(Seg);
    }

    public string Dir { get; }

    public string Image { get; }

    public string Seg { get; }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
