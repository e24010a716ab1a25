#!/usr/bin/env bash
# Installs the benchmark's peers (bench/requirements.txt) from PyPI into bench/.venv.
# Idempotent: when the venv already has every pinned version it says so and installs nothing.
# Nothing in kerasc's build or tests needs these packages; only bench/run does.
#   PYTHON=python3.11 bench/setup.sh    # choose the interpreter the venv is made from
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"

if [ ! -x "$venv/bin/python" ]; then
  echo "bench/setup.sh: creating $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi

# Every `name[extras]==version` line of requirements.txt installed at exactly that version?
if "$venv/bin/python" - "$requirements" <<'PY'
import importlib.metadata, re, sys
missing = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", line).groups()
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != version:
        missing.append(f"{name}=={version} (have {installed or 'none'})")
if missing:
    print("bench/setup.sh: to install: " + ", ".join(missing))
sys.exit(1 if missing else 0)
PY
then
  echo "bench/setup.sh: $venv has every package of requirements.txt"
  exit 0
fi

"$venv/bin/python" -m pip install --upgrade pip
if "$venv/bin/python" -m pip install -r "$requirements"; then
  echo "bench/setup.sh: done"
  exit 0
fi
# One package that cannot be had (no wheel for this platform) must not cost the others: install
# them one by one; bench/run skips the peers that are still missing.
failed=()
while read -r requirement; do
  requirement="${requirement%%#*}"
  requirement="$(echo "$requirement" | xargs)"
  [ -n "$requirement" ] || continue
  "$venv/bin/python" -m pip install "$requirement" || failed+=("$requirement")
done < "$requirements"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench/setup.sh: could not install: ${failed[*]}" >&2
  exit 1
fi
echo "bench/setup.sh: done"
