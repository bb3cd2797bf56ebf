"""Camera videos of a LeRobot export, encoded with PyAV from the release's JPEG frames.

One MP4 per camera and file index (``videos/<key>/chunk-000/file-000.mp4``); episodes follow
one another in a file, each starting at its ``from_timestamp``, frame ``k`` at
``from_timestamp + k / fps`` exactly (constant frame rate, pts in frames), which is how
LeRobot's decoders find a frame. A file is closed after the episode that takes it past
`VIDEO_FILE_SIZE_MB`.

H.264 (libx264, carried by PyAV's own FFmpeg) rather than LeRobot's default AV1: it encodes
about 4x faster here (5.8 against 24.9 ms per 640x480 frame) and every FFmpeg decodes it.
A keyframe every `GOP_FRAMES` frames keeps random access (what a training loader does)
to at most one extra decoded frame, as LeRobot's own encoder settings do.
"""

from __future__ import annotations

import io
import os
import tempfile
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from teleop_lake.lake.storage import Store
from teleop_lake.release.cameras import UNDECODABLE

VIDEO_CODEC = "libx264"
VIDEO_CODEC_NAME = "h264"
PIX_FMT = "yuv420p"
CRF = 23
"""libx264's default quality; decoded frames differ from the JPEG's pixels by ~4/255 on
average (the JPEG itself is lossy too)."""
PRESET = "veryfast"
GOP_FRAMES = 2
VIDEO_FILE_SIZE_MB = 200
"""LeRobot's own default size of a video file."""
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
CHUNKS_SIZE = 1000


def decode_rgb(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert("RGB"))


class CameraVideo:
    """The MP4 files of one camera: frames appended episode by episode."""

    def __init__(self, store: Store, key: str, fps: int, height: int, width: int) -> None:
        self.store, self.key, self.fps = store, key, fps
        self.height, self.width = height, width
        self.file_index = 0
        self.frames_in_file = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._path = ""
        self._last: tuple[bytes, av.VideoFrame] | None = None
        self.bytes_written = 0
        self.undecodable = 0
        """Frames that did not decode (damaged in the recording): the previous frame is
        shown again in their place, as for a dropped frame (black when there is none)."""

    @property
    def location(self) -> tuple[int, int]:
        return self.file_index // CHUNKS_SIZE, self.file_index % CHUNKS_SIZE

    @property
    def rel(self) -> str:
        chunk, file = self.location
        return VIDEO_PATH.format(video_key=self.key, chunk_index=chunk, file_index=file)

    def _open(self) -> None:
        if self.store.is_local:
            self._path = self.store.full(self.rel)
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
        else:  # muxed locally (MP4 needs a seekable file), uploaded when closed
            fd, self._path = tempfile.mkstemp(suffix=".mp4")
            os.close(fd)
        self._container = av.open(self._path, "w")
        stream = self._container.add_stream(
            VIDEO_CODEC, rate=self.fps, options={"crf": str(CRF), "preset": PRESET}
        )
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, PIX_FMT
        stream.codec_context.gop_size = GOP_FRAMES
        stream.codec_context.time_base = Fraction(1, self.fps)
        self._stream = stream

    @property
    def from_timestamp(self) -> float:
        """Where the next frame goes in the current file, in seconds."""
        return self.frames_in_file / self.fps

    def append(self, frames: list[bytes]) -> None:
        if self._container is None:
            self._open()
        assert self._container is not None and self._stream is not None
        for jpeg in frames:
            if self._last is not None and self._last[0] is jpeg:
                frame = self._last[1]  # a 30 Hz camera repeats on the 50 Hz grid
            else:
                try:
                    frame = av.VideoFrame.from_ndarray(decode_rgb(jpeg), format="rgb24")
                except UNDECODABLE:
                    self.undecodable += 1
                    frame = self._last[1] if self._last is not None else self._black()
                self._last = (jpeg, frame)
            frame.pts = self.frames_in_file
            frame.time_base = Fraction(1, self.fps)
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames_in_file += 1

    def _black(self) -> av.VideoFrame:
        pixels = np.zeros((self.height, self.width, 3), dtype=np.uint8)
        return av.VideoFrame.from_ndarray(pixels, format="rgb24")

    def end_episode(self) -> None:
        if self._container is not None and os.path.getsize(self._path) > (
            VIDEO_FILE_SIZE_MB * 1_000_000
        ):
            self.close()
            self.file_index += 1
            self.frames_in_file = 0

    def close(self) -> None:
        if self._container is None or self._stream is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = self._stream = None
        self._last = None
        self.bytes_written += os.path.getsize(self._path)
        if not self.store.is_local:
            try:
                with open(self._path, "rb") as f:
                    self.store.write_chunks(self.rel, iter(lambda: f.read(1 << 20), b""))
            finally:
                os.unlink(self._path)

    def info(self) -> dict[str, object]:
        return {
            "video.height": self.height,
            "video.width": self.width,
            "video.codec": VIDEO_CODEC_NAME,
            "video.pix_fmt": PIX_FMT,
            "video.is_depth_map": False,
            "video.fps": self.fps,
            "video.channels": 3,
            "has_audio": False,
        }
