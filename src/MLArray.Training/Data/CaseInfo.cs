namespace MLArray.Training.Data;

/// <summary>One case of a dataset: an image <c>.mla</c> and optionally a segmentation <c>.mla</c> of the same spatial shape and geometry.</summary>
/// <param name="Id">The case id: the image file name as given in the dataset (relative to the dataset folder or manifest).</param>
/// <param name="ImagePath">Full path of the image file, or its http(s) URL (read through range requests).</param>
/// <param name="SegmentationPath">Full path or http(s) URL of the segmentation file, or null.</param>
public sealed record CaseInfo(string Id, string ImagePath, string? SegmentationPath);
