#!/usr/bin/env bash
# A separate environment with the zarr 2.x line diffusion-policy and UMI pin, and imagecodecs
# for the JPEG codec, to open replay-buffer exports as they do. Not a dependency of teleop-lake.
# Usage: setup_zarr2_venv.sh VENV   (about 10 s; skipped if VENV already works)
set -euo pipefail
VENV=${1:?usage: setup_zarr2_venv.sh VENV}
if "$VENV/bin/python" -c 'import zarr, imagecodecs; assert zarr.__version__.startswith("2.")' 2>/dev/null; then exit 0; fi
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "zarr>=2.16,<3" imagecodecs "numpy<2.3" \
  2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c 'import zarr, imagecodecs; assert zarr.__version__.startswith("2.")'
