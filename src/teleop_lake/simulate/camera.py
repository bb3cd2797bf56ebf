"""Tiny synthetic camera frames (64x48 RGB JPEG) drawn from the robot's arm and hand state.

Each frame shows a block per hand whose place follows two arm angles and whose size
shrinks as the hand closes, on a camera-specific background, plus per-frame sensor noise:
consecutive genuine frames always differ, so a repeated frame is visible. IO-free: frames
are returned as bytes.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from teleop_lake.simulate.streams import CAMERA_CHANNELS

WIDTH_PX, HEIGHT_PX = 64, 48
JPEG_QUALITY = 80
SENSOR_NOISE_LEVELS = 6  # per-pixel uniform noise amplitude (grey levels)
BACKGROUND_RGB = {
    "camera_head": (90, 110, 130),
    "camera_left": (120, 100, 80),
    "camera_right": (80, 120, 95),
}
HAND_RGB = {"left": (230, 200, 60), "right": (60, 200, 230)}


def _background(camera: str) -> np.ndarray:
    base = np.array(BACKGROUND_RGB.get(camera, (100, 100, 100)), dtype=np.int16)
    ramp = np.linspace(-25, 25, HEIGHT_PX, dtype=np.int16)[:, None, None]
    return np.broadcast_to(base + ramp, (HEIGHT_PX, WIDTH_PX, 3)).copy()


def _block(img: np.ndarray, cx: float, cy: float, half: float, rgb: tuple[int, int, int]) -> None:
    x0, x1 = int(np.clip(cx - half, 0, WIDTH_PX - 1)), int(np.clip(cx + half, 1, WIDTH_PX))
    y0, y1 = int(np.clip(cy - half, 0, HEIGHT_PX - 1)), int(np.clip(cy + half, 1, HEIGHT_PX))
    img[y0:y1, x0:x1] = rgb


def render_frames(camera: str, state: np.ndarray, rng: np.random.Generator) -> list[bytes]:
    """One JPEG per row of ``state`` (columns in `CAMERA_CHANNELS` order)."""
    col = {c: i for i, c in enumerate(CAMERA_CHANNELS)}
    background = _background(camera)
    sides = {"camera_head": ("left", "right"), "camera_left": ("left",), "camera_right": ("right",)}
    frames: list[bytes] = []
    for row in state:
        img = background.copy()
        for side in sides.get(camera, ("left", "right")):
            pitch = row[col[f"arm_pitch_rad.{side}"]]
            yaw = row[col[f"arm_yaw_rad.{side}"]]
            closure = row[col[f"closure.{side}"]]
            base_x = (
                WIDTH_PX * (0.3 if side == "left" else 0.7)
                if camera == "camera_head"
                else WIDTH_PX / 2
            )
            cx = base_x + 12.0 * yaw
            cy = HEIGHT_PX * 0.6 + 10.0 * pitch
            _block(img, cx, cy, 9.0 - 5.0 * closure, HAND_RGB[side])
        img += rng.integers(
            -SENSOR_NOISE_LEVELS, SENSOR_NOISE_LEVELS + 1, size=img.shape, dtype=np.int16
        )
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            buf, format="JPEG", quality=JPEG_QUALITY
        )
        frames.append(buf.getvalue())
    return frames
