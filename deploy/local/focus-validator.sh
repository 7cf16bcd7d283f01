#!/usr/bin/env bash
# The FinOps Foundation's FOCUS validator (focus-validator, from PyPI) in a virtualenv under .local/focus-validator,
# for the export's conformance test (collector/export, TestFOCUSValidates). Versions: deploy/local/focus-validator.txt.
#   deploy/local/focus-validator.sh install   create the venv when missing or when the pins changed
#   deploy/local/focus-validator.sh bin       print the validator's path
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
STATE="${GPUMETER_LOCAL_DIR:-$REPO/.local}"
VENV="$STATE/focus-validator"
PINS="$HERE/focus-validator.txt"

case "${1:-install}" in
  install)
    want="$(sha256sum "$PINS" | cut -d' ' -f1)"
    if [ -x "$VENV/bin/focus-validator" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$want" ]; then
      exit 0
    fi
    echo "[focus-validator] installing $(grep -m1 '^focus-validator==' "$PINS") into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$PINS"
    "$VENV/bin/focus-validator" --supported-versions >/dev/null
    echo "$want" >"$VENV/.pins"
    ;;
  bin) echo "$VENV/bin/focus-validator" ;;
  *) echo "usage: $0 install|bin" >&2; exit 2 ;;
esac
