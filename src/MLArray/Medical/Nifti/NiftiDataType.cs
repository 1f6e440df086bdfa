using MLArray.Blosc2;

namespace MLArray.Medical.Nifti;

/// <summary>NIfTI <c>datatype</c> codes and their mapping to supported element types.</summary>
internal static class NiftiDataType
{
    /// <summary>DT_UINT8 (2).</summary>
    public const int UInt8 = 2;
    /// <summary>DT_INT16 (4).</summary>
    public const int Int16 = 4;
    /// <summary>DT_INT32 (8).</summary>
    public const int Int32 = 8;
    /// <summary>DT_FLOAT32 (16).</summary>
    public const int Float32 = 16;
    /// <summary>DT_COMPLEX64 (32): two float32 per voxel (<c>&lt;c8</c>).</summary>
    public const int Complex64 = 32;
    /// <summary>DT_FLOAT64 (64).</summary>
    public const int Float64 = 64;
    /// <summary>DT_RGB24 (128): three uint8 per voxel, read as a trailing channel axis of length 3.</summary>
    public const int Rgb24 = 128;
    /// <summary>DT_INT8 (256).</summary>
    public const int Int8 = 256;
    /// <summary>DT_UINT16 (512).</summary>
    public const int UInt16 = 512;
    /// <summary>DT_UINT32 (768).</summary>
    public const int UInt32 = 768;
    /// <summary>DT_INT64 (1024).</summary>
    public const int Int64 = 1024;
    /// <summary>DT_UINT64 (1280).</summary>
    public const int UInt64 = 1280;
    /// <summary>DT_RGBA32 (2304): four uint8 per voxel, read as a trailing channel axis of length 4.</summary>
    public const int Rgba32 = 2304;
    /// <summary>DT_COMPLEX128 (1792): two float64 per voxel (<c>&lt;c16</c>).</summary>
    public const int Complex128 = 1792;

    /// <summary>
    /// Maps a datatype code to the element type and the number of channels per voxel (1, or 3/4 for RGB24/RGBA32).
    /// </summary>
    /// <param name="code">The header's <c>datatype</c>.</param>
    /// <param name="file">The file name, for messages.</param>
    /// <returns>The element type and the channel count.</returns>
    /// <exception cref="MLArrayNotSupportedException">A valid NIfTI type with no supported dtype (binary, float128, complex256).</exception>
    /// <exception cref="MLArrayFormatException">A code NIfTI does not define.</exception>
    public static (DType DType, int Channels) ToDType(int code, string file) => code switch
    {
        UInt8 => (DType.UInt8, 1),
        Int16 => (DType.Int16, 1),
        Int32 => (DType.Int32, 1),
        Float32 => (DType.Float32, 1),
        Float64 => (DType.Float64, 1),
        Rgb24 => (DType.UInt8, 3),
        Int8 => (DType.Int8, 1),
        UInt16 => (DType.UInt16, 1),
        UInt32 => (DType.UInt32, 1),
        Int64 => (DType.Int64, 1),
        UInt64 => (DType.UInt64, 1),
        Rgba32 => (DType.UInt8, 4),
        Complex64 => (DType.Complex64, 1),
        Complex128 => (DType.Complex128, 1),
        1 or 1536 or 2048 => throw new MLArrayNotSupportedException(
            $"{file}: NIfTI datatype code {code} ({Name(code)}) is not supported; supported codes are " +
            "2 4 8 16 32 64 128 256 512 768 1024 1280 1792 2304 (uint8 int16 int32 float32 complex64 float64 RGB24 int8 uint16 uint32 int64 uint64 complex128 RGBA32)."),
        _ => throw new MLArrayFormatException($"{file}: unknown NIfTI datatype code {code}; the header is corrupt or not NIfTI."),
    };

    /// <summary>The datatype code for an element type (single channel), or for RGB24/RGBA32 when <paramref name="channels"/> is 3 or 4 with uint8.</summary>
    /// <param name="dtype">The element type.</param>
    /// <param name="channels">1, or 3/4 for RGB24/RGBA32 (uint8 only).</param>
    /// <returns>The NIfTI datatype code.</returns>
    /// <exception cref="MLArrayNotSupportedException">bool, or channels other than 1 (or 3/4 with uint8).</exception>
    public static int FromDType(DType dtype, int channels = 1)
    {
        if (channels != 1)
        {
            return (channels, dtype.Code) switch
            {
                (3, DTypeCode.UInt8) => Rgb24,
                (4, DTypeCode.UInt8) => Rgba32,
                _ => throw new MLArrayNotSupportedException($"NIfTI has no datatype for {channels} channels of {dtype}; only uint8 RGB24 (3) and RGBA32 (4)."),
            };
        }

        return dtype.Code switch
        {
            DTypeCode.UInt8 => UInt8,
            DTypeCode.Int16 => Int16,
            DTypeCode.Int32 => Int32,
            DTypeCode.Float32 => Float32,
            DTypeCode.Float64 => Float64,
            DTypeCode.Int8 => Int8,
            DTypeCode.UInt16 => UInt16,
            DTypeCode.UInt32 => UInt32,
            DTypeCode.Int64 => Int64,
            DTypeCode.UInt64 => UInt64,
            DTypeCode.Complex64 => Complex64,
            DTypeCode.Complex128 => Complex128,
            DTypeCode.Float16 => throw new MLArrayNotSupportedException(
                $"NIfTI has no float16 datatype ({dtype}); use --cast float32 (mlarray convert --cast float32), or convert the data to float32 first."),
            DTypeCode.Opaque => throw new MLArrayNotSupportedException(
                $"NIfTI has no datatype for the opaque dtype {dtype} (strings, void or structured items); only numeric arrays convert to NIfTI."),
            _ => throw new MLArrayNotSupportedException($"NIfTI has no datatype for {dtype} (bool is not a NIfTI type; store it as uint8)."),
        };
    }

    /// <summary>Bits per voxel for a datatype code (the header's <c>bitpix</c>), 0 when unknown.</summary>
    /// <param name="code">The datatype code.</param>
    /// <returns>The bit count.</returns>
    public static int BitPix(int code) => code switch
    {
        1 => 1,
        UInt8 or Int8 => 8,
        Int16 or UInt16 => 16,
        Int32 or UInt32 or Float32 or Rgba32 => 32,
        Rgb24 => 24,
        Complex64 or Float64 or Int64 or UInt64 => 64,
        1536 or 1792 => 128,
        2048 => 256,
        _ => 0,
    };

    /// <summary>The NIfTI name of a datatype code (e.g. <c>DT_COMPLEX64</c>).</summary>
    /// <param name="code">The code.</param>
    /// <returns>The name, or "unknown".</returns>
    public static string Name(int code) => code switch
    {
        0 => "DT_UNKNOWN",
        1 => "DT_BINARY",
        UInt8 => "DT_UINT8",
        Int16 => "DT_INT16",
        Int32 => "DT_INT32",
        Float32 => "DT_FLOAT32",
        Complex64 => "DT_COMPLEX64",
        Float64 => "DT_FLOAT64",
        Rgb24 => "DT_RGB24",
        Int8 => "DT_INT8",
        UInt16 => "DT_UINT16",
        UInt32 => "DT_UINT32",
        Int64 => "DT_INT64",
        UInt64 => "DT_UINT64",
        1536 => "DT_FLOAT128",
        1792 => "DT_COMPLEX128",
        2048 => "DT_COMPLEX256",
        Rgba32 => "DT_RGBA32",
        _ => "unknown",
    };
}
