#!/usr/bin/env bash
# A separate environment with LeRobot 0.4.4 (the newest for Python 3.11) on CPU torch, to load
# exports the way a partner's training script does. Not a dependency of teleop-lake.
# Usage: setup_lerobot_venv.sh VENV   (about 60 s and 1.5 GB; skipped if VENV already works)
set -euo pipefail
VENV=${1:?usage: setup_lerobot_venv.sh VENV}
# LeRobot decodes videos with torchcodec, which needs FFmpeg's shared libraries (Debian: ffmpeg)
if ! ldconfig -p | grep -q 'libavcodec\.so'; then
  if [[ $(id -u) == 0 ]] && command -v apt-get > /dev/null; then
    apt-get install -y -q ffmpeg > /dev/null
  else
    echo "LeRobot needs FFmpeg's libraries to decode videos: install ffmpeg (apt-get install ffmpeg)" >&2
    exit 3
  fi
fi
if "$VENV/bin/python" -c 'import lerobot.datasets.lerobot_dataset, torchcodec.decoders' 2>/dev/null; then exit 0; fi
python3.11 -m venv "$VENV"
PIP="$VENV/bin/pip install -q --disable-pip-version-check"
# CPU torch from the machines' wheels; lerobot itself without its pins (they pull CUDA torch)
$PIP torch==2.13.0 torchvision==0.28.0 2>&1 | grep -v "^WARNING: Location" || true
$PIP --no-deps lerobot==0.4.4 2>&1 | grep -v "^WARNING: Location" || true
# torchcodec 0.13.0 is the newest CPU build on the index (0.14+ there link CUDA's libnvrtc)
$PIP --no-deps torchcodec==0.13.0 2>&1 | grep -v "^WARNING: Location" || true
$PIP "datasets>=4.0.0,<5.0.0" "huggingface-hub>=0.34.2,<0.36.0" "av>=15.0.0,<16.0.0" \
  "jsonlines>=4.0.0,<5.0.0" "packaging>=24.2,<26.0" "einops>=0.8.0,<0.9.0" "draccus==0.10.0" \
  "termcolor>=2.4.0,<4.0.0" "deepdiff>=7.0.1,<9.0.0" "accelerate>=1.10.0,<2.0.0" \
  2>&1 | grep -v "^WARNING: Location" || true
# The torchvision wheel here is a CUDA build: next to CPU torch its two unguarded
# register_fake calls (nms, qnms) abort `import torchvision`. Guard them as the others are.
TV=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torchvision/_meta_registrations.py
sed -i -E 's/^@torch\.library\.register_fake\("torchvision::(q?nms)"\)$/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' "$TV"
"$VENV/bin/python" -c 'import lerobot.datasets.lerobot_dataset, torchcodec.decoders'
