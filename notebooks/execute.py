"""Run the notebooks against a lake (default: the demo's), without Jupyter or nbconvert:
``make notebooks``. Executed copies (with their outputs) go to ``demo-output/notebooks/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def main() -> int:
    lake = Path(os.environ.get("TELEOP_LAKE", "demo-output/lake")).resolve()
    if not (lake / "releases" / "LATEST").is_file():
        print(f"no release in {lake}: run `make demo` first (or set TELEOP_LAKE)", file=sys.stderr)
        return 3
    out = Path("demo-output/notebooks")
    out.mkdir(parents=True, exist_ok=True)
    os.environ["TELEOP_LAKE"] = str(lake)
    for path in sorted(HERE.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        ).execute()
        nbformat.write(nb, out / path.name)
        print(f"ran {path.name} -> {out / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
