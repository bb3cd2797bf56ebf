#!/usr/bin/env bash
# Export a small demo release in both formats and open the exports with the partners' own
# stacks: LeRobot's LeRobotDataset (lerobot) and zarr 2.x (replay-buffer).
# Usage: run_checks.sh lerobot|replay-buffer|all   (from the repository root)
set -euo pipefail
WHAT=${1:-all}
BIN=.venv/bin
WORK=$(mktemp -d -t teleop-partner-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export HF_HUB_OFFLINE=1 HF_HOME="$WORK/hf"
$BIN/teleop-lake demo --out "$WORK/demo" --episodes-per-center 2 > "$WORK/demo.log" 2>&1 \
  || { cat "$WORK/demo.log"; exit 1; }
LAKE="$WORK/demo/lake"
if [[ $WHAT == lerobot || $WHAT == all ]]; then
  bash tests/partner/setup_lerobot_venv.sh .venv-lerobot
  $BIN/teleop-lake release export --lake "$LAKE" --out "$WORK/lerobot" --format lerobot
  $BIN/teleop-lake release export --lake "$LAKE" --out "$WORK/lerobot-25" --format lerobot \
    --fps 25 --outcome success --cameras image
  .venv-lerobot/bin/python tests/partner/check_lerobot.py "$WORK/lerobot" "$LAKE" 2>&1 | grep -v torchcodec
  .venv-lerobot/bin/python tests/partner/check_lerobot.py "$WORK/lerobot-25" "$LAKE" 2>&1 | grep -v torchcodec
fi
if [[ $WHAT == replay-buffer || $WHAT == all ]]; then
  bash tests/partner/setup_zarr2_venv.sh .venv-zarr2
  $BIN/teleop-lake release export --lake "$LAKE" --out "$WORK/rb" --format replay-buffer
  .venv-zarr2/bin/python tests/partner/check_replay_buffer.py "$WORK/rb"
fi
echo "partner checks passed ($WHAT)"
