using System.Buffers.Binary;
using System.Text;
using MLArray.Blosc2;

namespace MLArray.Medical.Nifti;

/// <summary>One NIfTI header extension: its code (<c>ecode</c>) and its raw bytes (the <c>esize - 8</c> bytes after
/// the 8-byte extension header, padding included, so that the size survives a round trip).</summary>
/// <param name="Code">The <c>ecode</c> (e.g. 4 AFNI, 6 comment, 32 CIFTI).</param>
/// <param name="Data">The content bytes.</param>
public sealed record NiftiExtension(int Code, byte[] Data)
{
    /// <summary>The <c>esize</c> this extension has on disk: 8 + data, rounded up to a multiple of 16.</summary>
    public int ESize => (8 + Data.Length + 15) / 16 * 16;

    /// <summary>The content as nibabel keeps it: <see cref="Data"/> with trailing NUL bytes stripped.</summary>
    public ReadOnlyMemory<byte> Content
    {
        get
        {
            int end = Data.Length;
            while (end > 0 && Data[end - 1] == 0)
            {
                end--;
            }

            return Data.AsMemory(0, end);
        }
    }
}

/// <summary>
/// A NIfTI-1 or NIfTI-2 header with every field, in the widest type of both versions (float32 fields of NIfTI-1
/// are held as the exact double of the stored float). Field names follow nibabel. The header is mutable so that a
/// writer can start from a read header or from <see cref="Create"/>.
/// </summary>
public sealed class NiftiHeader
{
    /// <summary>1 for NIfTI-1 (348-byte header), 2 for NIfTI-2 (540-byte header).</summary>
    public int Version { get; set; } = 1;

    /// <summary>True when the file was little-endian (the writer always writes little-endian).</summary>
    public bool IsLittleEndian { get; set; } = true;

    /// <summary><c>magic</c>: "n+1"/"n+2" (single file) or "ni1"/"ni2" (header/image pair).</summary>
    public string Magic { get; set; } = "n+1";

    /// <summary>NIfTI-2 <c>eol_check</c> bytes (13 10 26 10 when valid).</summary>
    public byte[] EolCheck { get; set; } = [13, 10, 26, 10];

    /// <summary>Unused Analyze field <c>data_type</c> (NIfTI-1 only).</summary>
    public string DataTypeString { get; set; } = "";
    /// <summary>Unused Analyze field <c>db_name</c> (NIfTI-1 only).</summary>
    public string DbName { get; set; } = "";
    /// <summary>Unused Analyze field <c>extents</c> (NIfTI-1 only).</summary>
    public long Extents { get; set; }
    /// <summary>Unused Analyze field <c>session_error</c> (NIfTI-1 only).</summary>
    public long SessionError { get; set; }
    /// <summary>Analyze field <c>regular</c> (NIfTI-1 only; "r" by convention).</summary>
    public string Regular { get; set; } = "r";
    /// <summary>Unused Analyze field <c>glmax</c> (NIfTI-1 only).</summary>
    public long GlMax { get; set; }
    /// <summary>Unused Analyze field <c>glmin</c> (NIfTI-1 only).</summary>
    public long GlMin { get; set; }
    /// <summary>NIfTI-2 <c>unused_str</c>.</summary>
    public string UnusedStr { get; set; } = "";

    /// <summary><c>dim_info</c>: frequency/phase/slice dimensions packed in one byte.</summary>
    public long DimInfo { get; set; }

    /// <summary><c>dim[8]</c>: dim[0] is the number of dimensions, dim[1..dim[0]] the sizes (x fastest).</summary>
    public long[] Dim { get; set; } = [0, 1, 1, 1, 1, 1, 1, 1];

    /// <summary><c>intent_p1</c>.</summary>
    public double IntentP1 { get; set; }
    /// <summary><c>intent_p2</c>.</summary>
    public double IntentP2 { get; set; }
    /// <summary><c>intent_p3</c>.</summary>
    public double IntentP3 { get; set; }
    /// <summary><c>intent_code</c>.</summary>
    public long IntentCode { get; set; }
    /// <summary><c>datatype</c> code, see <see cref="NiftiDataType"/>.</summary>
    public int DataType { get; set; }
    /// <summary><c>bitpix</c>.</summary>
    public int BitPix { get; set; }
    /// <summary><c>slice_start</c>.</summary>
    public long SliceStart { get; set; }
    /// <summary><c>pixdim[8]</c>: pixdim[0] is qfac, pixdim[1..3] the voxel sizes, pixdim[4] the time step.</summary>
    public double[] PixDim { get; set; } = [1, 1, 1, 1, 0, 0, 0, 0];
    /// <summary><c>vox_offset</c>: byte offset of the voxel data in the data file.</summary>
    public double VoxOffset { get; set; }
    /// <summary><c>scl_slope</c> (0 or NaN means no scaling).</summary>
    public double SclSlope { get; set; } = double.NaN;
    /// <summary><c>scl_inter</c>.</summary>
    public double SclInter { get; set; } = double.NaN;
    /// <summary><c>slice_end</c>.</summary>
    public long SliceEnd { get; set; }
    /// <summary><c>slice_code</c>.</summary>
    public long SliceCode { get; set; }
    /// <summary><c>xyzt_units</c>.</summary>
    public long XyztUnits { get; set; }
    /// <summary><c>cal_max</c>.</summary>
    public double CalMax { get; set; }
    /// <summary><c>cal_min</c>.</summary>
    public double CalMin { get; set; }
    /// <summary><c>slice_duration</c>.</summary>
    public double SliceDuration { get; set; }
    /// <summary><c>toffset</c>.</summary>
    public double TOffset { get; set; }
    /// <summary><c>descrip</c> (80 bytes).</summary>
    public string Descrip { get; set; } = "";
    /// <summary><c>aux_file</c> (24 bytes).</summary>
    public string AuxFile { get; set; } = "";
    /// <summary><c>qform_code</c>.</summary>
    public int QformCode { get; set; }
    /// <summary><c>sform_code</c>.</summary>
    public int SformCode { get; set; }
    /// <summary><c>quatern_b</c>.</summary>
    public double QuaternB { get; set; }
    /// <summary><c>quatern_c</c>.</summary>
    public double QuaternC { get; set; }
    /// <summary><c>quatern_d</c>.</summary>
    public double QuaternD { get; set; }
    /// <summary><c>qoffset_x</c>.</summary>
    public double QOffsetX { get; set; }
    /// <summary><c>qoffset_y</c>.</summary>
    public double QOffsetY { get; set; }
    /// <summary><c>qoffset_z</c>.</summary>
    public double QOffsetZ { get; set; }
    /// <summary><c>srow_x[4]</c>: first row of the sform affine.</summary>
    public double[] SRowX { get; set; } = new double[4];
    /// <summary><c>srow_y[4]</c>.</summary>
    public double[] SRowY { get; set; } = new double[4];
    /// <summary><c>srow_z[4]</c>.</summary>
    public double[] SRowZ { get; set; } = new double[4];
    /// <summary><c>intent_name</c> (16 bytes).</summary>
    public string IntentName { get; set; } = "";

    /// <summary>Header extensions in file order.</summary>
    public List<NiftiExtension> Extensions { get; set; } = [];

    /// <summary><c>sizeof_hdr</c>: 348 or 540.</summary>
    public int SizeOfHdr => Version == 2 ? 540 : 348;

    /// <summary>True for a header/image pair (<c>magic</c> "ni1"/"ni2").</summary>
    public bool IsPair => Magic is "ni1" or "ni2";

    /// <summary>The number of dimensions, <c>dim[0]</c>.</summary>
    public int NDim => (int)Dim[0];

    /// <summary>The image shape in file index order (x, y, z, t, ...; x fastest): <c>dim[1..dim[0]]</c>.</summary>
    public long[] FileShape => Dim.AsSpan(1, Math.Clamp((int)Dim[0], 0, 7)).ToArray();

    /// <summary>
    /// Creates a NIfTI-1 single-file header for data of the given element type, file shape (x fastest) and affine:
    /// sform and qform are both set from the affine (see <see cref="SetAffine"/>), scaling is off
    /// (slope NaN), units mm/sec.
    /// </summary>
    /// <param name="dtype">The element type.</param>
    /// <param name="fileShape">The shape, x fastest, 1 to 7 axes (without the RGB channel axis).</param>
    /// <param name="affine">The 4×4 voxel-to-world (RAS) affine.</param>
    /// <param name="channels">1, or 3/4 for RGB24/RGBA32 uint8 voxels.</param>
    /// <param name="sformCode">The sform code (default 1, scanner anatomical).</param>
    /// <param name="qformCode">The qform code (default 1).</param>
    /// <returns>The new header.</returns>
    public static NiftiHeader Create(DType dtype, IReadOnlyList<long> fileShape, double[,] affine, int channels = 1, int sformCode = 1, int qformCode = 1)
    {
        ArgumentNullException.ThrowIfNull(fileShape);
        if (fileShape.Count is < 1 or > 7)
        {
            throw new ArgumentException($"NIfTI supports 1 to 7 dimensions, not {fileShape.Count}.", nameof(fileShape));
        }

        var h = new NiftiHeader { DataType = NiftiDataType.FromDType(dtype, channels), XyztUnits = 10 };
        h.BitPix = NiftiDataType.BitPix(h.DataType);
        h.Dim[0] = fileShape.Count;
        for (int i = 0; i < fileShape.Count; i++)
        {
            if (fileShape[i] < 1)
            {
                throw new ArgumentException($"dimension {i} is {fileShape[i]}; NIfTI dimensions must be at least 1.", nameof(fileShape));
            }

            h.Dim[i + 1] = fileShape[i];
        }

        for (int i = 4; i < 8; i++)
        {
            h.PixDim[i] = i <= fileShape.Count ? 1 : 0;
        }

        h.SetAffine(affine, sformCode, qformCode);
        return h;
    }

    /// <summary>
    /// Sets both sform (the affine's first three rows) and qform (nibabel <c>set_qform</c>: column norms become
    /// pixdim[1..3], qfac = sign of the determinant, the closest rotation by polar decomposition becomes the
    /// quaternion, the translation the qoffset).
    /// </summary>
    /// <param name="affine">A 4×4 affine.</param>
    /// <param name="sformCode">The sform code to store.</param>
    /// <param name="qformCode">The qform code to store.</param>
    public void SetAffine(double[,] affine, int sformCode, int qformCode)
    {
        ArgumentNullException.ThrowIfNull(affine);
        if (affine.GetLength(0) != 4 || affine.GetLength(1) != 4)
        {
            throw new ArgumentException("the affine must be 4×4.", nameof(affine));
        }

        SRowX = [affine[0, 0], affine[0, 1], affine[0, 2], affine[0, 3]];
        SRowY = [affine[1, 0], affine[1, 1], affine[1, 2], affine[1, 3]];
        SRowZ = [affine[2, 0], affine[2, 1], affine[2, 2], affine[2, 3]];
        SformCode = sformCode;
        (double b, double c, double d, double qfac, double[] zooms) = NiftiAffine.AffineToQuaternion(affine);
        QuaternB = b;
        QuaternC = c;
        QuaternD = d;
        QOffsetX = affine[0, 3];
        QOffsetY = affine[1, 3];
        QOffsetZ = affine[2, 3];
        PixDim[0] = qfac;
        PixDim[1] = zooms[0];
        PixDim[2] = zooms[1];
        PixDim[3] = zooms[2];
        QformCode = qformCode;
    }

    /// <summary>
    /// The voxel sizes nibabel uses for geometry: <c>pixdim[1..3]</c> with zeros replaced by 1 and negatives by their
    /// absolute value (nibabel's header fixes).
    /// </summary>
    public double[] SpatialZooms
    {
        get
        {
            var z = new double[3];
            for (int i = 0; i < 3; i++)
            {
                double v = Math.Abs(PixDim[i + 1]);
                z[i] = v == 0 || double.IsNaN(v) ? 1 : v;
            }

            return z;
        }
    }

    /// <summary>The qform affine (4×4, RAS), computed even when <c>qform_code</c> is 0.</summary>
    /// <returns>A new matrix.</returns>
    public double[,] GetQForm() => NiftiAffine.QuaternionToAffine(QuaternB, QuaternC, QuaternD, QOffsetX, QOffsetY, QOffsetZ,
        PixDim[0] < 0 ? -1 : 1, SpatialZooms, Version == 2);

    /// <summary>The sform affine (4×4, RAS) from <c>srow_x/y/z</c>, even when <c>sform_code</c> is 0.</summary>
    /// <returns>A new matrix.</returns>
    public double[,] GetSForm() => new double[,]
    {
        { SRowX[0], SRowX[1], SRowX[2], SRowX[3] },
        { SRowY[0], SRowY[1], SRowY[2], SRowY[3] },
        { SRowZ[0], SRowZ[1], SRowZ[2], SRowZ[3] },
        { 0, 0, 0, 1 },
    };

    /// <summary>
    /// nibabel's fallback affine when neither code is set (<c>get_base_affine</c>): diagonal
    /// (-pixdim[1], pixdim[2], pixdim[3]) with the centre of the volume at the origin, i.e. translation
    /// <c>-zoom * (shape - 1) / 2</c> (shape and zooms padded with 1 to three axes).
    /// </summary>
    /// <returns>A new matrix.</returns>
    public double[,] GetBaseAffine()
    {
        double[] zooms = SpatialZooms;
        var a = new double[4, 4];
        a[3, 3] = 1;
        long[] shape = FileShape;
        for (int i = 0; i < 3; i++)
        {
            double size = i < shape.Length ? shape[i] : 1;
            double zoom = i < shape.Length ? zooms[i] : 1;
            if (i == 0)
            {
                zoom = -zoom;
            }

            a[i, i] = zoom;
            a[i, 3] = -((size - 1) / 2.0) * zoom;
        }

        return a;
    }

    /// <summary>
    /// The affine nibabel reports (<c>get_best_affine</c>): the sform when <c>sform_code</c> &gt; 0, else the qform
    /// when <c>qform_code</c> &gt; 0, else <see cref="GetBaseAffine"/>. Maps (i, j, k, 1) in file index order to
    /// RAS+ millimetres.
    /// </summary>
    /// <returns>A new matrix.</returns>
    public double[,] GetBestAffine() => SformCode > 0 ? GetSForm() : QformCode > 0 ? GetQForm() : GetBaseAffine();

    /// <summary>
    /// The read scaling as nibabel applies it: null when <c>scl_slope</c> is 0 or not finite, or when
    /// (slope, inter) is (1, 0); otherwise <c>value = raw * Slope + Inter</c> (a non-finite intercept with a valid slope
    /// is read as 0, where nibabel refuses the file).
    /// </summary>
    public (double Slope, double Inter)? Scaling
    {
        get
        {
            double s = SclSlope;
            if (s == 0 || !double.IsFinite(s))
            {
                return null;
            }

            double i = double.IsFinite(SclInter) ? SclInter : 0;
            return s == 1 && i == 0 ? null : (s, i);
        }
    }

    /// <summary>
    /// Every header field as JSON-able values (long, double, string, long[], double[]), named and ordered as nibabel's
    /// <c>Nifti1Header</c>/<c>Nifti2Header</c> fields. float32 fields of NIfTI-1 appear as the exact double of the float.
    /// Extensions are not included (see <see cref="Extensions"/>).
    /// </summary>
    /// <returns>A new ordered dictionary.</returns>
    public OrderedDictionary<string, object> ToDictionary()
    {
        var d = new OrderedDictionary<string, object>();
        if (Version == 1)
        {
            d["sizeof_hdr"] = 348L;
            d["data_type"] = DataTypeString;
            d["db_name"] = DbName;
            d["extents"] = Extents;
            d["session_error"] = SessionError;
            d["regular"] = Regular;
            d["dim_info"] = DimInfo;
            d["dim"] = (long[])Dim.Clone();
            d["intent_p1"] = IntentP1;
            d["intent_p2"] = IntentP2;
            d["intent_p3"] = IntentP3;
            d["intent_code"] = IntentCode;
            d["datatype"] = (long)DataType;
            d["bitpix"] = (long)BitPix;
            d["slice_start"] = SliceStart;
            d["pixdim"] = (double[])PixDim.Clone();
            d["vox_offset"] = VoxOffset;
            d["scl_slope"] = SclSlope;
            d["scl_inter"] = SclInter;
            d["slice_end"] = SliceEnd;
            d["slice_code"] = SliceCode;
            d["xyzt_units"] = XyztUnits;
            d["cal_max"] = CalMax;
            d["cal_min"] = CalMin;
            d["slice_duration"] = SliceDuration;
            d["toffset"] = TOffset;
            d["glmax"] = GlMax;
            d["glmin"] = GlMin;
            AddCommonTail(d);
            d["intent_name"] = IntentName;
            d["magic"] = Magic;
        }
        else
        {
            d["sizeof_hdr"] = 540L;
            d["magic"] = Magic;
            d["eol_check"] = Array.ConvertAll(EolCheck, b => (long)b);
            d["datatype"] = (long)DataType;
            d["bitpix"] = (long)BitPix;
            d["dim"] = (long[])Dim.Clone();
            d["intent_p1"] = IntentP1;
            d["intent_p2"] = IntentP2;
            d["intent_p3"] = IntentP3;
            d["pixdim"] = (double[])PixDim.Clone();
            d["vox_offset"] = (long)VoxOffset;
            d["scl_slope"] = SclSlope;
            d["scl_inter"] = SclInter;
            d["cal_max"] = CalMax;
            d["cal_min"] = CalMin;
            d["slice_duration"] = SliceDuration;
            d["toffset"] = TOffset;
            d["slice_start"] = SliceStart;
            d["slice_end"] = SliceEnd;
            AddCommonTail(d);
            d["slice_code"] = SliceCode;
            d["xyzt_units"] = XyztUnits;
            d["intent_code"] = IntentCode;
            d["intent_name"] = IntentName;
            d["dim_info"] = DimInfo;
            d["unused_str"] = UnusedStr;
        }

        return d;
    }

    private void AddCommonTail(OrderedDictionary<string, object> d)
    {
        d["descrip"] = Descrip;
        d["aux_file"] = AuxFile;
        d["qform_code"] = (long)QformCode;
        d["sform_code"] = (long)SformCode;
        d["quatern_b"] = QuaternB;
        d["quatern_c"] = QuaternC;
        d["quatern_d"] = QuaternD;
        d["qoffset_x"] = QOffsetX;
        d["qoffset_y"] = QOffsetY;
        d["qoffset_z"] = QOffsetZ;
        d["srow_x"] = (double[])SRowX.Clone();
        d["srow_y"] = (double[])SRowY.Clone();
        d["srow_z"] = (double[])SRowZ.Clone();
    }

    /// <summary>A deep copy (extensions included; their byte arrays are shared).</summary>
    /// <returns>The copy.</returns>
    public NiftiHeader Clone()
    {
        var c = (NiftiHeader)MemberwiseClone();
        c.EolCheck = (byte[])EolCheck.Clone();
        c.Dim = (long[])Dim.Clone();
        c.PixDim = (double[])PixDim.Clone();
        c.SRowX = (double[])SRowX.Clone();
        c.SRowY = (double[])SRowY.Clone();
        c.SRowZ = (double[])SRowZ.Clone();
        c.Extensions = new List<NiftiExtension>(Extensions);
        return c;
    }


    // ---------------------------------------------------------------- binary layout

    /// <summary>Parses a header from its bytes (348 or 540 of them, or more). Endianness and version come from <c>sizeof_hdr</c>.</summary>
    /// <param name="bytes">The header bytes.</param>
    /// <param name="file">The file name for messages.</param>
    /// <returns>The header (no extensions).</returns>
    /// <exception cref="MLArrayFormatException">Not a NIfTI header, truncated, or with invalid dimensions.</exception>
    public static NiftiHeader Parse(ReadOnlySpan<byte> bytes, string file)
    {
        if (bytes.Length < 4)
        {
            throw new MLArrayFormatException($"{file}: not a NIfTI file: only {bytes.Length} bytes (a header needs 348).");
        }

        int le = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        int be = BinaryPrimitives.ReadInt32BigEndian(bytes);
        int version;
        bool little;
        if (le == 348 || le == 540)
        {
            version = le == 348 ? 1 : 2;
            little = true;
        }
        else if (be == 348 || be == 540)
        {
            version = be == 348 ? 1 : 2;
            little = false;
        }
        else
        {
            throw new MLArrayFormatException(
                $"{file}: not a NIfTI file: sizeof_hdr is {le} (little-endian) / {be} (big-endian), expected 348 (NIfTI-1) or 540 (NIfTI-2).");
        }

        int need = version == 1 ? 348 : 540;
        if (bytes.Length < need)
        {
            throw new MLArrayFormatException($"{file}: truncated NIfTI-{version} header: {bytes.Length} of {need} bytes.");
        }

        var r = new Reader(bytes, little);
        var h = new NiftiHeader { Version = version, IsLittleEndian = little };
        if (version == 1)
        {
            h.DataTypeString = r.Str(4, 10);
            h.DbName = r.Str(14, 18);
            h.Extents = r.I32(32);
            h.SessionError = r.I16(36);
            h.Regular = r.Str(38, 1);
            h.DimInfo = bytes[39];
            for (int i = 0; i < 8; i++)
            {
                h.Dim[i] = r.I16(40 + (2 * i));
            }

            h.IntentP1 = r.F32(56);
            h.IntentP2 = r.F32(60);
            h.IntentP3 = r.F32(64);
            h.IntentCode = r.I16(68);
            h.DataType = r.I16(70);
            h.BitPix = r.I16(72);
            h.SliceStart = r.I16(74);
            for (int i = 0; i < 8; i++)
            {
                h.PixDim[i] = r.F32(76 + (4 * i));
            }

            h.VoxOffset = r.F32(108);
            h.SclSlope = r.F32(112);
            h.SclInter = r.F32(116);
            h.SliceEnd = r.I16(120);
            h.SliceCode = bytes[122];
            h.XyztUnits = bytes[123];
            h.CalMax = r.F32(124);
            h.CalMin = r.F32(128);
            h.SliceDuration = r.F32(132);
            h.TOffset = r.F32(136);
            h.GlMax = r.I32(140);
            h.GlMin = r.I32(144);
            h.Descrip = r.Str(148, 80);
            h.AuxFile = r.Str(228, 24);
            h.QformCode = r.I16(252);
            h.SformCode = r.I16(254);
            h.QuaternB = r.F32(256);
            h.QuaternC = r.F32(260);
            h.QuaternD = r.F32(264);
            h.QOffsetX = r.F32(268);
            h.QOffsetY = r.F32(272);
            h.QOffsetZ = r.F32(276);
            h.SRowX = [r.F32(280), r.F32(284), r.F32(288), r.F32(292)];
            h.SRowY = [r.F32(296), r.F32(300), r.F32(304), r.F32(308)];
            h.SRowZ = [r.F32(312), r.F32(316), r.F32(320), r.F32(324)];
            h.IntentName = r.Str(328, 16);
            h.Magic = r.Str(344, 4);
            if (h.Magic is not ("n+1" or "ni1"))
            {
                throw new MLArrayFormatException(
                    $"{file}: not a NIfTI-1 file: magic is '{Escape(bytes.Slice(344, 4))}', expected 'n+1' or 'ni1' (Analyze 7.5 is not supported).");
            }
        }
        else
        {
            h.Magic = r.Str(4, 4);
            h.EolCheck = bytes.Slice(8, 4).ToArray();
            if (h.Magic is not ("n+2" or "ni2"))
            {
                throw new MLArrayFormatException($"{file}: not a NIfTI-2 file: magic is '{Escape(bytes.Slice(4, 4))}', expected 'n+2' or 'ni2'.");
            }

            h.DataType = r.I16(12);
            h.BitPix = r.I16(14);
            for (int i = 0; i < 8; i++)
            {
                h.Dim[i] = r.I64(16 + (8 * i));
            }

            h.IntentP1 = r.F64(80);
            h.IntentP2 = r.F64(88);
            h.IntentP3 = r.F64(96);
            for (int i = 0; i < 8; i++)
            {
                h.PixDim[i] = r.F64(104 + (8 * i));
            }

            h.VoxOffset = r.I64(168);
            h.SclSlope = r.F64(176);
            h.SclInter = r.F64(184);
            h.CalMax = r.F64(192);
            h.CalMin = r.F64(200);
            h.SliceDuration = r.F64(208);
            h.TOffset = r.F64(216);
            h.SliceStart = r.I64(224);
            h.SliceEnd = r.I64(232);
            h.Descrip = r.Str(240, 80);
            h.AuxFile = r.Str(320, 24);
            h.QformCode = r.I32(344);
            h.SformCode = r.I32(348);
            h.QuaternB = r.F64(352);
            h.QuaternC = r.F64(360);
            h.QuaternD = r.F64(368);
            h.QOffsetX = r.F64(376);
            h.QOffsetY = r.F64(384);
            h.QOffsetZ = r.F64(392);
            h.SRowX = [r.F64(400), r.F64(408), r.F64(416), r.F64(424)];
            h.SRowY = [r.F64(432), r.F64(440), r.F64(448), r.F64(456)];
            h.SRowZ = [r.F64(464), r.F64(472), r.F64(480), r.F64(488)];
            h.SliceCode = r.I32(496);
            h.XyztUnits = r.I32(500);
            h.IntentCode = r.I32(504);
            h.IntentName = r.Str(508, 16);
            h.DimInfo = bytes[524];
            h.UnusedStr = r.Str(525, 15);
        }

        h.Validate(file);
        h.ApplyNibabelFixes();
        return h;
    }

    /// <summary>
    /// The header repairs nibabel applies when it loads a file (<c>check_fix</c>), so that the fields we expose equal
    /// nibabel's: qfac (pixdim[0]) other than -1 or 1 becomes 1; pixdim[1..3] zeros become 1 and negatives their
    /// absolute value.
    /// </summary>
    private void ApplyNibabelFixes()
    {
        if (PixDim[0] is not (-1.0 or 1.0))
        {
            PixDim[0] = 1;
        }

        for (int i = 1; i <= 3; i++)
        {
            if (PixDim[i] == 0)
            {
                PixDim[i] = 1;
            }
            else if (PixDim[i] < 0)
            {
                PixDim[i] = -PixDim[i];
            }
        }
    }

    /// <summary>Checks dim[0] and the sizes.</summary>
    internal void Validate(string file)
    {
        if (Dim[0] is < 1 or > 7)
        {
            throw new MLArrayFormatException($"{file}: invalid NIfTI dim[0] = {Dim[0]} (number of dimensions must be 1 to 7).");
        }

        for (int i = 1; i <= Dim[0]; i++)
        {
            if (Dim[i] <= 0)
            {
                throw new MLArrayFormatException(
                    $"{file}: invalid NIfTI dimension dim[{i}] = {Dim[i]} ({(Dim[i] == 0 ? "zero" : "negative")}); every size must be at least 1.");
            }
        }

        if (VoxOffset < 0 || double.IsNaN(VoxOffset) || VoxOffset > long.MaxValue / 2)
        {
            throw new MLArrayFormatException($"{file}: invalid vox_offset {VoxOffset}.");
        }
    }

    /// <summary>Serialises as a little-endian NIfTI-1 header (348 bytes).</summary>
    internal byte[] ToNifti1Bytes(string file)
    {
        var b = new byte[348];
        var s = b.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, 348);
        PutStr(s, 4, 10, DataTypeString);
        PutStr(s, 14, 18, DbName);
        BinaryPrimitives.WriteInt32LittleEndian(s[32..], (int)Extents);
        BinaryPrimitives.WriteInt16LittleEndian(s[36..], (short)SessionError);
        PutStr(s, 38, 1, Regular);
        s[39] = (byte)DimInfo;
        for (int i = 0; i < 8; i++)
        {
            if (Dim[i] is < short.MinValue or > short.MaxValue)
            {
                throw new MLArrayNotSupportedException($"{file}: dim[{i}] = {Dim[i]} does not fit NIfTI-1's int16; NIfTI-2 writing is not supported.");
            }

            BinaryPrimitives.WriteInt16LittleEndian(s[(40 + (2 * i))..], (short)Dim[i]);
        }

        PutF(s, 56, IntentP1);
        PutF(s, 60, IntentP2);
        PutF(s, 64, IntentP3);
        BinaryPrimitives.WriteInt16LittleEndian(s[68..], (short)IntentCode);
        BinaryPrimitives.WriteInt16LittleEndian(s[70..], (short)DataType);
        BinaryPrimitives.WriteInt16LittleEndian(s[72..], (short)BitPix);
        BinaryPrimitives.WriteInt16LittleEndian(s[74..], (short)SliceStart);
        for (int i = 0; i < 8; i++)
        {
            PutF(s, 76 + (4 * i), PixDim[i]);
        }

        PutF(s, 108, VoxOffset);
        PutF(s, 112, SclSlope);
        PutF(s, 116, SclInter);
        BinaryPrimitives.WriteInt16LittleEndian(s[120..], (short)SliceEnd);
        s[122] = (byte)SliceCode;
        s[123] = (byte)XyztUnits;
        PutF(s, 124, CalMax);
        PutF(s, 128, CalMin);
        PutF(s, 132, SliceDuration);
        PutF(s, 136, TOffset);
        BinaryPrimitives.WriteInt32LittleEndian(s[140..], (int)GlMax);
        BinaryPrimitives.WriteInt32LittleEndian(s[144..], (int)GlMin);
        PutStr(s, 148, 80, Descrip);
        PutStr(s, 228, 24, AuxFile);
        BinaryPrimitives.WriteInt16LittleEndian(s[252..], (short)QformCode);
        BinaryPrimitives.WriteInt16LittleEndian(s[254..], (short)SformCode);
        PutF(s, 256, QuaternB);
        PutF(s, 260, QuaternC);
        PutF(s, 264, QuaternD);
        PutF(s, 268, QOffsetX);
        PutF(s, 272, QOffsetY);
        PutF(s, 276, QOffsetZ);
        for (int i = 0; i < 4; i++)
        {
            PutF(s, 280 + (4 * i), SRowX[i]);
            PutF(s, 296 + (4 * i), SRowY[i]);
            PutF(s, 312 + (4 * i), SRowZ[i]);
        }

        PutStr(s, 328, 16, IntentName);
        PutStr(s, 344, 4, Magic);
        return b;
    }

    /// <summary>True when every field fits a NIfTI-1 header (dims and slice indices in int16).</summary>
    internal bool FitsNifti1()
    {
        foreach (long d in Dim)
        {
            if (d is < short.MinValue or > short.MaxValue)
            {
                return false;
            }
        }

        return SliceStart is >= short.MinValue and <= short.MaxValue && SliceEnd is >= short.MinValue and <= short.MaxValue;
    }

    /// <summary>Serialises as a little-endian NIfTI-2 header (540 bytes).</summary>
    internal byte[] ToNifti2Bytes()
    {
        var b = new byte[540];
        var s = b.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, 540);
        PutStr(s, 4, 4, Magic);
        EolCheck.AsSpan(0, Math.Min(4, EolCheck.Length)).CopyTo(s[8..]);
        BinaryPrimitives.WriteInt16LittleEndian(s[12..], (short)DataType);
        BinaryPrimitives.WriteInt16LittleEndian(s[14..], (short)BitPix);
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[(16 + (8 * i))..], Dim[i]);
            BinaryPrimitives.WriteDoubleLittleEndian(s[(104 + (8 * i))..], PixDim[i]);
        }

        BinaryPrimitives.WriteDoubleLittleEndian(s[80..], IntentP1);
        BinaryPrimitives.WriteDoubleLittleEndian(s[88..], IntentP2);
        BinaryPrimitives.WriteDoubleLittleEndian(s[96..], IntentP3);
        BinaryPrimitives.WriteInt64LittleEndian(s[168..], (long)VoxOffset);
        double[] d8 = [SclSlope, SclInter, CalMax, CalMin, SliceDuration, TOffset];
        for (int i = 0; i < d8.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(s[(176 + (8 * i))..], d8[i]);
        }

        BinaryPrimitives.WriteInt64LittleEndian(s[224..], SliceStart);
        BinaryPrimitives.WriteInt64LittleEndian(s[232..], SliceEnd);
        PutStr(s, 240, 80, Descrip);
        PutStr(s, 320, 24, AuxFile);
        BinaryPrimitives.WriteInt32LittleEndian(s[344..], QformCode);
        BinaryPrimitives.WriteInt32LittleEndian(s[348..], SformCode);
        double[] q = [QuaternB, QuaternC, QuaternD, QOffsetX, QOffsetY, QOffsetZ, .. SRowX, .. SRowY, .. SRowZ];
        for (int i = 0; i < q.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(s[(352 + (8 * i))..], q[i]);
        }

        BinaryPrimitives.WriteInt32LittleEndian(s[496..], (int)SliceCode);
        BinaryPrimitives.WriteInt32LittleEndian(s[500..], (int)XyztUnits);
        BinaryPrimitives.WriteInt32LittleEndian(s[504..], (int)IntentCode);
        PutStr(s, 508, 16, IntentName);
        s[524] = (byte)DimInfo;
        PutStr(s, 525, 15, UnusedStr);
        return b;
    }

    private static void PutF(Span<byte> s, int at, double v) => BinaryPrimitives.WriteSingleLittleEndian(s[at..], (float)v);

    private static void PutStr(Span<byte> s, int at, int len, string v)
    {
        byte[] u = Encoding.UTF8.GetBytes(v);
        u.AsSpan(0, Math.Min(len, u.Length)).CopyTo(s.Slice(at, len));
    }

    private static string Escape(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (byte x in b)
        {
            sb.Append(x is >= 32 and < 127 ? ((char)x).ToString() : $"\\x{x:x2}");
        }

        return sb.ToString();
    }

    private readonly ref struct Reader(ReadOnlySpan<byte> b, bool little)
    {
        private readonly ReadOnlySpan<byte> _b = b;

        public int I16(int at) => little ? BinaryPrimitives.ReadInt16LittleEndian(_b[at..]) : BinaryPrimitives.ReadInt16BigEndian(_b[at..]);

        public int I32(int at) => little ? BinaryPrimitives.ReadInt32LittleEndian(_b[at..]) : BinaryPrimitives.ReadInt32BigEndian(_b[at..]);

        public long I64(int at) => little ? BinaryPrimitives.ReadInt64LittleEndian(_b[at..]) : BinaryPrimitives.ReadInt64BigEndian(_b[at..]);

        public double F32(int at) => little ? BinaryPrimitives.ReadSingleLittleEndian(_b[at..]) : BinaryPrimitives.ReadSingleBigEndian(_b[at..]);

        public double F64(int at) => little ? BinaryPrimitives.ReadDoubleLittleEndian(_b[at..]) : BinaryPrimitives.ReadDoubleBigEndian(_b[at..]);

        /// <summary>A NumPy 'S' field: trailing NUL bytes stripped, decoded as UTF-8 with replacement.</summary>
        public string Str(int at, int len)
        {
            ReadOnlySpan<byte> s = _b.Slice(at, len);
            int end = s.Length;
            while (end > 0 && s[end - 1] == 0)
            {
                end--;
            }

            return Encoding.UTF8.GetString(s[..end]);
        }
    }
}
