#!/usr/bin/env bash
# Rewrites the public-API baseline (PublicAPI.Shipped.txt / PublicAPI.Unshipped.txt) of every packable library under
# src/ from the compiler's own report: each library is compiled (with the source generators, so generated records are
# included) and every public symbol missing from the files (RS0016, RS0036) is added to PublicAPI.Unshipped.txt, every
# listed symbol that is gone (RS0017) is removed from Unshipped or marked *REMOVED* against Shipped.
# Run it after a merge or an API change, then review the diff of the PublicAPI.*.txt files: it is the change to the
# public surface.
#
#   tools/update-public-api.sh           # new/removed API -> PublicAPI.Unshipped.txt
#   tools/update-public-api.sh --ship    # ... then fold Unshipped into PublicAPI.Shipped.txt (at a release)
set -euo pipefail
cd "$(dirname "$0")/.."
ship=false
[ "${1:-}" = "--ship" ] && ship=true
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for proj in src/*/*.csproj; do
  [ "$(dotnet msbuild "$proj" -getProperty:MLArrayPublicApi 2>/dev/null)" = "true" ] || continue
  dir=$(dirname "$proj")
  for f in Shipped Unshipped; do
    [ -f "$dir/PublicAPI.$f.txt" ] || printf '#nullable enable\n' > "$dir/PublicAPI.$f.txt"
  done
  echo "== $proj"
  # Touching the files (compiler inputs) forces the project to be recompiled, so every diagnostic is reported again.
  touch "$dir"/PublicAPI.*.txt
  dotnet build "$proj" -c Release -p:TreatWarningsAsErrors=false -p:MSBuildTreatWarningsAsErrors=false \
    -nologo -clp:NoSummary > "$log" 2>&1 || true
  python3 - "$dir" "$(cd "$dir" && pwd)/$(basename "$proj")" "$ship" "$log" <<'PY'
import os, re, sys
d, proj, ship, log = sys.argv[1], sys.argv[2], sys.argv[3] == "true", sys.argv[4]
added, removed = set(), set()
pattern = re.compile(r"(?:error|warning) (RS00(?:16|17|36|37)): Symbol '(.*)' (?:is not part of the declared public API|is part of the declared API|is missing nullability).*\[(.*?)\]\s*$")
other_errors = []
for line in open(log, encoding="utf-8", errors="replace"):
    m = pattern.search(line)
    if m:
        if os.path.normpath(m.group(3)) != os.path.normpath(proj): continue
        (removed if m.group(1) == "RS0017" else added).add(m.group(2))
    elif re.search(r": error [A-Z]+\d+", line) and proj in line:
        other_errors.append(line.strip())
if other_errors:
    sys.exit("the project does not compile:\n" + "\n".join(sorted(set(other_errors))[:20]))
def read(name):
    p = os.path.join(d, name)
    return [l.rstrip("\n") for l in open(p, encoding="utf-8") if l.strip() and not l.startswith("#nullable")]
shipped, unshipped = set(read("PublicAPI.Shipped.txt")), set(read("PublicAPI.Unshipped.txt"))
for s in removed:
    if s in unshipped: unshipped.discard(s)
    elif s in shipped: unshipped.add("*REMOVED*" + s)
unshipped |= added
if ship:
    gone = {l[len("*REMOVED*"):] for l in unshipped if l.startswith("*REMOVED*")}
    shipped = (shipped - gone) | {l for l in unshipped if not l.startswith("*REMOVED*")}
    unshipped = set()
def write(name, lines):
    with open(os.path.join(d, name), "w", encoding="utf-8", newline="\n") as f:
        f.write("#nullable enable\n")
        for l in sorted(lines, key=lambda s: (s.startswith("*REMOVED*"), s.lower(), s)):
            f.write(l + "\n")
write("PublicAPI.Shipped.txt", shipped)
write("PublicAPI.Unshipped.txt", unshipped)
print(f"   +{len(added)} -{len(removed)}; shipped: {len(shipped)} lines, unshipped: {len(unshipped)} lines")
PY
done
