#!/usr/bin/env bash
# Rewrites the public-API baseline (PublicAPI.Shipped.txt / PublicAPI.Unshipped.txt) of every packable library under
# src/ from the compiler: the PublicApiAnalyzers code fixes add each public symbol missing from the files (RS0016) to
# PublicAPI.Unshipped.txt and mark listed symbols that are gone (RS0017). Run it after a merge or an API change, then
# review the diff of the PublicAPI.*.txt files: it is the change to the public surface.
#
#   tools/update-public-api.sh           # new/removed API -> PublicAPI.Unshipped.txt
#   tools/update-public-api.sh --ship    # ... then move it into PublicAPI.Shipped.txt (at a release)
set -euo pipefail
cd "$(dirname "$0")/.."
ship=false
[ "${1:-}" = "--ship" ] && ship=true

for proj in src/*/*.csproj; do
  [ "$(dotnet msbuild "$proj" -getProperty:MLArrayPublicApi 2>/dev/null)" = "true" ] || continue
  dir=$(dirname "$proj")
  for f in Shipped Unshipped; do
    [ -f "$dir/PublicAPI.$f.txt" ] || printf '#nullable enable\n' > "$dir/PublicAPI.$f.txt"
  done
  echo "== $proj"
  # Several passes: one pass of the code fix may leave symbols whose containing type it added in the same pass.
  for pass in 1 2 3; do
    dotnet format analyzers "$proj" --diagnostics RS0016 RS0017 RS0036 RS0037 --severity warn --verbosity quiet || true
  done
  python3 - "$dir" "$ship" <<'PY'
import sys, os
d, ship = sys.argv[1], sys.argv[2] == "true"
def read(name):
    p = os.path.join(d, name)
    return [l.rstrip("\n") for l in open(p, encoding="utf-8")] if os.path.exists(p) else []
def body(lines):
    return [l for l in lines if l.strip() and not l.startswith("#nullable")]
shipped, unshipped = body(read("PublicAPI.Shipped.txt")), body(read("PublicAPI.Unshipped.txt"))
if ship:
    removed = {l[len("*REMOVED*"):] for l in unshipped if l.startswith("*REMOVED*")}
    shipped = [l for l in shipped if l not in removed] + [l for l in unshipped if not l.startswith("*REMOVED*")]
    unshipped = []
def write(name, lines):
    with open(os.path.join(d, name), "w", encoding="utf-8", newline="\n") as f:
        f.write("#nullable enable\n")
        for l in sorted(set(lines), key=lambda s: (s.startswith("*REMOVED*"), s.lower(), s)):
            f.write(l + "\n")
write("PublicAPI.Shipped.txt", shipped)
write("PublicAPI.Unshipped.txt", unshipped)
PY
  echo "   shipped: $(($(wc -l < "$dir/PublicAPI.Shipped.txt") - 1)) lines, unshipped: $(($(wc -l < "$dir/PublicAPI.Unshipped.txt") - 1)) lines"
done
