using System.CommandLine;
using System.Globalization;
using MLArray.Blosc2;
using MLArray.Display;

namespace MLArray.Cli.Commands;

/// <summary>
/// <c>mlarray preview FILE [--axis axial|coronal|sagittal|z|y|x|N] [--index I] [--frame T] [--window C,W] [--seg]
/// [--neurological] -o slice.png</c>: one slice as viewers show it (MLArray.Display: anatomical orientation, aspect from
/// the spacing, RGB in colour, label colours for segmentations) as a PNG. Only the chunks the slice touches are decoded.
/// </summary>
internal static class PreviewCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr, AtomicFileSteps? steps = null)
    {
        var file = new Argument<string>("file") { Description = "The .mla file." };
        var axis = new Option<string>("--axis") { Description = "View: axial, coronal, sagittal; or z, y, x / an axis number for the view along that array axis.", DefaultValueFactory = _ => "axial" };
        var index = new Option<long?>("--index") { Description = "Slice index along the view's axis (default: the middle; negative counts from the end)." };
        var frame = new Option<long[]>("--frame") { Description = "Index along each non-spatial axis (time, channels; default 0).", AllowMultipleArgumentsPerToken = true };
        var window = new Option<string?>("--window") { Description = "Intensity window CENTER,WIDTH (default: 1st–99th percentile of the slice)." };
        var seg = new Option<bool>("--seg") { Description = "Show an integer image as labels (segmentations with is_seg are shown so anyway)." };
        var part = new Option<string>("--part") { Description = "What complex images show: magnitude, real, imag or phase.", DefaultValueFactory = _ => "magnitude" };
        var neuro = new Option<bool>("--neurological") { Description = "The patient's right on the right (default: radiological, the patient's right on the left)." };
        var output = new Option<string>("--output", "-o") { Description = "The PNG to write (atomically).", Required = true };
        var cache = CliInput.CacheOption();
        var cmd = new Command("preview", "Render one slice of an .mla file to a PNG, oriented as medical viewers show it.") { file, axis, index, frame, window, seg, neuro, part, output, cache };
        cmd.SetAction(pr => CliApp.Guard(stderr, [pr.GetValue(file)!, pr.GetValue(output)!], () =>
        {
            string path = pr.GetValue(file)!;
            string outPath = pr.GetValue(output)!;
            using var img = CliInput.OpenFile(path, pr.GetValue(cache));
            var request = new SliceRequest
            {
                View = pr.GetValue(axis)!, Index = pr.GetValue(index), Frames = pr.GetValue(frame) ?? [], Window = pr.GetValue(window),
                AsLabels = pr.GetValue(seg), Neurological = pr.GetValue(neuro), Part = DisplayValues.ParsePart(pr.GetValue(part)!),
            };
            var (slice, geometry, view, at, mode) = SlicePreview.Render(img, request);
            byte[] png = slice.ToPng();
            AtomicFile.Write(outPath, s => s.Write(png), steps);
            string kind = mode switch { RenderMode.Labels => "RGB labels", RenderMode.Rgb => "RGB", _ => "grayscale" };
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {outPath}: {slice.Width}×{slice.Height} {kind}, {view.ToString().ToLowerInvariant()} slice {at} ({geometry.Orientation})"));
            return CliApp.Ok;
        }));
        return cmd;
    }
}
