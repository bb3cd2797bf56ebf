"""Synthetic camera frames (RGB JPEG, 640x480 by default) drawn from the robot's arm and hand state.

Each frame shows a block per hand whose place follows two arm angles and whose size shrinks
as the hand closes, on a camera-specific scene (a lit backdrop, a table edge, a few objects,
a fine surface texture), plus per-frame sensor noise: consecutive genuine frames always differ,
so a repeated frame is visible. The size, the JPEG quality and the noise come from
`params.CameraParams`; at the defaults a 640x480 frame is 40-80 kB, the size of the Kuavo
rigs' head and wrist camera JPEGs. IO-free: frames are returned as bytes.

The sensor noise of a frame is a window of one noise field drawn per camera and episode,
at a random offset that differs from the previous frame's: drawing fresh noise for 300,000
pixels a frame would cost more than the JPEG encoding does.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from teleop_lake.simulate.params import CameraParams
from teleop_lake.simulate.streams import CAMERA_CHANNELS

# Pixels of slack around the frame in the noise field: the noise window moves by up to this.
NOISE_MARGIN_PX = 16
BACKGROUND_RGB = {
    "camera_head": (90, 110, 130),
    "camera_left": (120, 100, 80),
    "camera_right": (80, 120, 95),
}
TABLE_RGB = (150, 135, 115)
OBJECT_RGB = ((200, 60, 50), (60, 160, 80), (70, 90, 200))
HAND_RGB = {"left": (230, 200, 60), "right": (60, 200, 230)}
# Reference frame size the scene's geometry is laid out in; everything scales from it.
_REF_W, _REF_H = 64.0, 48.0


def _scene(camera: str, width: int, height: int, texture_levels: int) -> np.ndarray:
    """The static scene of ``camera``: a lit backdrop, a table, three objects (int16 HxWx3)."""
    base = np.array(BACKGROUND_RGB.get(camera, (100, 100, 100)), dtype=np.int16)
    ramp = np.linspace(-25, 25, height, dtype=np.int16)[:, None, None]
    img = np.broadcast_to(base + ramp, (height, width, 3)).copy()
    table_top = int(height * 0.72)
    img[table_top:] = TABLE_RGB
    # Wood-like grain on the table and a soft shade on the backdrop: texture a real scene has
    # and that JPEG pays for (a flat synthetic image compresses far better than a camera's).
    yy, xx = np.mgrid[0:height, 0:width]
    grain = (6 * np.sin(xx / (width / 37.0) + 3 * np.sin(yy / (height / 5.0)))).astype(np.int16)
    img[table_top:] += grain[table_top:, :, None]
    shade = (8 * np.cos(xx / (width / 3.0)) * np.cos(yy / (height / 2.0))).astype(np.int16)
    img[:table_top] += shade[:table_top, :, None]
    seed = sum(camera.encode())
    for k, rgb in enumerate(OBJECT_RGB):
        cx = width * (0.2 + 0.3 * k + 0.05 * ((seed >> k) & 1))
        half_w, half_h = width * 0.05, height * 0.08
        y1 = table_top
        img[int(y1 - 2 * half_h) : y1, int(cx - half_w) : int(cx + half_w)] = rgb
    # Fine surface texture, fixed per camera (the same every episode, as a room is).
    texture = np.random.default_rng(seed).integers(
        -texture_levels, texture_levels + 1, size=img.shape, dtype=np.int16
    )
    return img + texture


def _block(img: np.ndarray, cx: float, cy: float, half_x: float, half_y: float, rgb: tuple) -> None:
    height, width = img.shape[:2]
    x0, x1 = int(np.clip(cx - half_x, 0, width - 1)), int(np.clip(cx + half_x, 1, width))
    y0, y1 = int(np.clip(cy - half_y, 0, height - 1)), int(np.clip(cy + half_y, 1, height))
    img[y0:y1, x0:x1] = rgb


def _offsets(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` per-frame noise draws (dy, dx, flicker): the noise window's offset and a global
    level flicker of -1..1. Drawn without replacement from the 3 x 33 x 33 combinations, so
    no two frames of a stream share their noise within 3,267 frames (109 s at 30 Hz): a still
    scene never gives two identical images, as a real sensor never does."""
    span = 2 * NOISE_MARGIN_PX + 1
    combos = 3 * span * span
    draws = np.concatenate([rng.permutation(combos) for _ in range(-(-n // combos))])[:n]
    flicker, flat = np.divmod(draws, span * span)
    return np.stack([flat // span, flat % span, flicker - 1], axis=1)


class RenderedFrames(Sequence[bytes]):
    """A camera stream's JPEG frames, each rendered when it is indexed.

    Every random draw is made when the stream is set up, so a frame's bytes do not depend on
    when or how often it is rendered, and a ten-minute recording at 1280x720 (9 GB of JPEG)
    never sits in memory. The most recent frame is kept, so a writer that reads a frame twice
    in a row renders it once."""

    def __init__(
        self, camera: str, state: np.ndarray, rng: np.random.Generator, params: CameraParams
    ) -> None:
        self._camera, self._params = camera, params
        width, height = params.size_px
        self._state = np.asarray(state)
        self._scene = _scene(camera, width, height, params.scene_texture_levels)
        amp = params.sensor_noise_levels
        self._noise = rng.integers(
            -amp,
            amp + 1,
            size=(height + 2 * NOISE_MARGIN_PX, width + 2 * NOISE_MARGIN_PX, 3),
            dtype=np.int16,
        )
        self._offsets = _offsets(len(self._state), rng)
        self._last: tuple[int, bytes] | None = None

    def __len__(self) -> int:
        return len(self._state)

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self._last is not None and self._last[0] == i:
            return self._last[1]
        frame = self._render(i)
        self._last = (i, frame)
        return frame

    def _render(self, i: int) -> bytes:
        camera, params = self._camera, self._params
        width, height = params.size_px
        col = {c: k for k, c in enumerate(CAMERA_CHANNELS)}
        sx, sy = width / _REF_W, height / _REF_H
        sides = {
            "camera_head": ("left", "right"),
            "camera_left": ("left",),
            "camera_right": ("right",),
        }
        dy, dx, flicker = (int(v) for v in self._offsets[i])
        row = self._state[i]
        img = self._scene + self._noise[dy : dy + height, dx : dx + width]
        img += flicker
        for side in sides.get(camera, ("left", "right")):
            pitch = row[col[f"arm_pitch_rad.{side}"]]
            yaw = row[col[f"arm_yaw_rad.{side}"]]
            closure = row[col[f"closure.{side}"]]
            base_x = (_REF_W * (0.3 if side == "left" else 0.7)) if camera == "camera_head" else 32
            half = 9.0 - 5.0 * closure
            _block(
                img,
                sx * (base_x + 12.0 * yaw),
                sy * (_REF_H * 0.6 + 10.0 * pitch),
                sx * half,
                sy * half,
                HAND_RGB[side],
            )
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            buf, format="JPEG", quality=params.jpeg_quality
        )
        return buf.getvalue()


def render_frames(
    camera: str,
    state: np.ndarray,
    rng: np.random.Generator,
    params: CameraParams | None = None,
) -> RenderedFrames:
    """One JPEG per row of ``state`` (columns in `CAMERA_CHANNELS` order), rendered when
    indexed (`RenderedFrames`)."""
    return RenderedFrames(camera, state, rng, params or CameraParams())
