#!/usr/bin/env bash
# Installs OpenTimelineIO and its CMX3600, FCP 7 XML and FCPXML adapters (PyPI, pinned in
# requirements.txt) into this folder's .venv, for the interchange tests. Skips what is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
if ! "$here/.venv/bin/python" -c "import opentimelineio, otio_cmx3600_adapter, otio_fcp_adapter, otio_fcpx_xml_adapter" 2>/dev/null; then
  "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
echo "interchange readers ready: opentimelineio $("$here/.venv/bin/python" -c 'import opentimelineio; print(opentimelineio.__version__)')"
