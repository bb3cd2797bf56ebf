"""The layering is enforced by import-linter contracts in pyproject.toml; this runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([exe], cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_the_flow_module_loads_no_processing_libraries() -> None:
    """Every night, an empty one too, imports the flow module first: the libraries only
    processing and writing segments use (zarr, scipy, image and bag readers, Dask) are loaded
    by the batches that need them, not at its start (zarr alone cost 0.23 s there)."""
    heavy = ("zarr", "scipy", "PIL", "rosbags", "h5py", "mcap", "dask", "matplotlib")
    code = f"import sys, flows.nightly; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "", f"loaded at import: {proc.stdout.strip()}"
