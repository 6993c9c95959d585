#!/usr/bin/env bash
# Installs the independent Fountain parsers the differential tests compare our parses with:
# fountain-js (npm, pinned by package-lock.json) and screenplain (PyPI, pinned in
# requirements.txt), into this folder only. Skips what is already installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ ! -d "$here/node_modules/fountain-js" ]; then
  npm ci --prefix "$here" --no-audit --no-fund
fi
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
if ! "$here/.venv/bin/python" -c "import screenplain" 2>/dev/null; then
  "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
echo "differential parsers ready: fountain-js $(node -p "require('$here/node_modules/fountain-js/package.json').version"), screenplain $("$here/.venv/bin/python" -c 'import importlib.metadata as m; print(m.version("screenplain"))')"
