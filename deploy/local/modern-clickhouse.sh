#!/usr/bin/env bash
# A modern ClickHouse for the compatibility test: chDB (embedded ClickHouse, from PyPI) in a virtualenv under
# .local/chdb. CI's server is 18.16; this proves every migration and query also runs on a current release.
#   deploy/local/modern-clickhouse.sh install   create the venv when missing
#   deploy/local/modern-clickhouse.sh python    print the venv's python path
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
STATE="${GPUMETER_LOCAL_DIR:-$REPO/.local}"
VENV="$STATE/chdb"
CHDB_VERSION="${GPUMETER_CHDB_VERSION:-4.4.0}"

case "${1:-install}" in
  install)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.version" 2>/dev/null)" = "$CHDB_VERSION" ]; then
      exit 0
    fi
    echo "[modern-clickhouse] installing chdb $CHDB_VERSION into $VENV (embedded modern ClickHouse)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "chdb==$CHDB_VERSION"
    echo "$CHDB_VERSION" >"$VENV/.version"
    ;;
  python) echo "$VENV/bin/python" ;;
  *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
