#!/usr/bin/env bash
# Fuzzes one target with AFL++ and SharpFuzz (see fuzz/README.md).
#   fuzz/run.sh <target> [limit]      limit: "<N>s" seconds or "<N>" executions (default 1000000 executions)
#   fuzz/run.sh build                 only build, publish and instrument (fuzz/out)
#   fuzz/run.sh replay <target> <file>...  run one input once (after a build) and print the outcome
# Targets: frame chunk vlmeta pickle nifti nrrd nrrd-detached npy
# Needs: afl++ (apt-get install afl++) and the SharpFuzz.CommandLine tool (restored from fuzz/dotnet-tools.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
targets="frame chunk vlmeta pickle nifti nrrd nrrd-detached npy"

build() {
  (cd "$here" && dotnet tool restore >/dev/null)
  rm -rf "$out"
  dotnet publish "$here/MLArray.Fuzz/MLArray.Fuzz.csproj" -c Release -o "$out" --nologo -v quiet
  # Instrument our two assemblies only (the parsers); SharpFuzz itself and third-party codecs stay as they are.
  for dll in MLArray.Blosc2.dll MLArray.dll; do
    (cd "$here" && dotnet sharpfuzz "$out/$dll")
  done
}

# The GC heap hard limit turns any single allocation the harness's bound would not catch in time into an
# OutOfMemoryException (a crash); 2 GiB is far above the harness's per-input bound of 256 MiB.
export DOTNET_GCHeapHardLimit=0x80000000
export DOTNET_TieredPGO=0

case "${1:-}" in
  build) build; exit 0 ;;
  replay)
    # The uninstrumented build (instrumented code needs afl-fuzz's coverage map).
    dotnet build "$here/MLArray.Fuzz/MLArray.Fuzz.csproj" -c Release --nologo -v quiet >/dev/null
    shift
    exec dotnet "$here/MLArray.Fuzz/bin/Release/net10.0/MLArray.Fuzz.dll" "$@" ;;
esac

target="${1:-}"
if ! [[ " $targets " == *" $target "* ]]; then
  echo "usage: $0 <$(echo $targets | tr ' ' '|')> [<N>s|<N>]  |  $0 build  |  $0 replay <target> <file>..." >&2
  exit 2
fi
limit="${2:-1000000}"
if [[ "$limit" == *s ]]; then stop=(-V "${limit%s}"); else stop=(-E "$limit"); fi

command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 1; }
[ -f "$out/MLArray.Fuzz.dll" ] || build

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1
export AFL_NO_AFFINITY=1 AFL_FORKSRV_INIT_TMOUT=30000
findings="$here/findings/$target"
export MLARRAY_FUZZ_CRASHLOG="$findings/exceptions.log"
mkdir -p "$findings"
input=(-i "$here/seeds/$target")
# Resume a previous run of the same target rather than start over.
[ -d "$findings/default/queue" ] && input=(-i -)
status=0
nice -n 10 afl-fuzz "${input[@]}" -o "$findings" -t 1000 -m none "${stop[@]}" -- dotnet "$out/MLArray.Fuzz.dll" "$target" || status=$?
rm -rf /dev/shm/mlarray-fuzz-* 2>/dev/null || true
stats="$findings/default/fuzzer_stats"
if [ -f "$stats" ]; then
  grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs) ' "$stats"
fi
exit $status
