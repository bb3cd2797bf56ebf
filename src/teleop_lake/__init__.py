"""teleop-lake: raw humanoid teleoperation recordings in, clean labeled versioned datasets out."""

__version__ = "0.1.0"
