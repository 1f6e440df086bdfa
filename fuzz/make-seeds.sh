#!/usr/bin/env bash
# Rebuilds fuzz/seeds from tests/data (the committed seeds were made with it). Seeds are kept < 64 KiB so that
# executions stay fast. Usage: fuzz/make-seeds.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../tests/data"
seeds="$here/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{frame,chunk,vlmeta,pickle,nifti,nrrd,nrrd-detached,npy}

# frame: the smallest Blosc2 corpus frame of each codec x filter, plus special/small and .mla files.
for f in u1_1d_{blosclz,lz4,lz4hc,zstd}_{shuffle,bitshuffle,delta-shuffle,noshuffle} i2_2d_zlib_{shuffle,bitshuffle,delta-shuffle,noshuffle} \
         f4_2d_special_{nans,uninit,zeros} f4_2d_lz4_shuffle_const i8_1d_blosclz_delta u1_1d_tiny_lz4_shuffle empty_1d_f8 \
         dtype_b1_2d_zstd_bitshuffle mlarray_metadata_only; do
  src="$data/blosc2/$f.mla"
  [ "$(stat -c %s "$src")" -le 65536 ] && cp "$src" "$seeds/frame/"
done
for f in head_metadata_only v0023_image_f32_3d v0049_plain_pickle_affine corrupt_truncated_frame; do
  src="$data/mla/$f.mla"
  [ "$(stat -c %s "$src")" -le 65536 ] && cp "$src" "$seeds/frame/"
done

# frame: every C-Blosc2 frame in float16, complex, big-endian and opaque dtypes (new metalayer dtype spellings).
cp "$data"/blosc2-dtypes/*.b2nd "$seeds/frame/"

# chunk, vlmeta, pickle: parts of corpus files (chunks of every codec and filter, "mlarray" values, pickles).
dotnet run -c Release --project "$here/MLArray.Fuzz" -- make-seeds "$data" "$seeds"
cp "$data"/pickle/*.pickle "$seeds/pickle/"

# npy: all of tests/data/npy (all small).
cp "$data"/npy/*.npy "$seeds/npy/"

# nifti, nrrd: the small single-file images of the medical corpus.
for f in niftijs/5D_small.nii niivue/minimal.nii.gz niftijs/not-nifti.nii pynrrd/BallBinary30x30x30.nii.gz dipy/func_coef.nii.gz \
         nibabel/resampled_anat_moved.nii niivue/complex_image.nii.gz; do
  cp "$data/medical/$f" "$seeds/nifti/$(echo "$f" | tr / _)"
done
for f in nrrdjl/bswap.nrrd nrrdjl/eltype_rgb_u8.nrrd pynrrd/test1d_ascii.nrrd pynrrd/test2d_ascii.nrrd pynrrd/test_simple4d_raw.nrrd \
         pynrrd/test_customFields.nrrd pynrrd/BallBinary30x30x30_bz2.nrrd pynrrd/BallBinary30x30x30_gz_byteskip_minus_one.nrrd \
         pynrrd/BallBinary30x30x30_gz.nrrd pynrrd/BallBinary30x30x30_gz_lineskip.nrrd nrrdjl/smallgz.nrrd nrrdjl/small_time.nrrd; do
  cp "$data/medical/$f" "$seeds/nrrd/$(echo "$f" | tr / _)"
done

# nrrd-detached: headers naming the fixed data files the target puts beside them (see Targets.DetachedDir):
# header/data.raw (4096 bytes), header/data.raw.gz, header/data.txt (512 numbers), header/sub/data.raw, and
# ../outside.raw (outside the folder: must be refused).
d="$seeds/nrrd-detached"
printf 'NRRD0004\ntype: uint8\ndimension: 2\nsizes: 64 64\nencoding: raw\ndata file: data.raw\n' > "$d/raw.nhdr"
printf 'NRRD0004\ntype: short\ndimension: 2\nsizes: 32 64\nendian: big\nencoding: gzip\ndata file: data.raw.gz\n' > "$d/gzip.nhdr"
printf 'NRRD0005\ntype: int\ndimension: 1\nsizes: 512\nencoding: ascii\ndata file: data.txt\n' > "$d/ascii.nhdr"
printf 'NRRD0004\ntype: float\ndimension: 3\nsizes: 4 8 16\nendian: little\nencoding: raw\nbyte skip: -1\ndata file: sub/data.raw\n' > "$d/sub.nhdr"
printf 'NRRD0004\ntype: uint8\ndimension: 1\nsizes: 100\nencoding: raw\nline skip: 1\nbyte skip: 10\ndatafile: ./data.raw\n' > "$d/skips.nhdr"
printf 'NRRD0004\ntype: uint8\ndimension: 1\nsizes: 16\nencoding: raw\ndata file: ../outside.raw\n' > "$d/escape.nhdr"
printf 'NRRD0004\ntype: uint8\ndimension: 1\nsizes: 16\nencoding: raw\ndata file: sub/../../outside.raw\n' > "$d/escape2.nhdr"
printf 'NRRD0004\ntype: uint8\ndimension: 1\nsizes: 16\nencoding: raw\ndata file: LIST\ndata.raw\n' > "$d/list.nhdr"
cp "$data"/medical/pynrrd/BallBinary30x30x30.nhdr "$data"/medical/nrrdjl/units.nhdr "$d/"
echo "seeds: $(find "$seeds" -type f | wc -l) files, $(du -sh "$seeds" | cut -f1)"
