"""Standardization: raw adapter channels -> SI units, canonical names and order (pure, no files).

Recordings are built in memory with known values in a recorder's own order, so
every expected number is computed independently of the code under test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teleop_lake.canonical import Recording, RecordingMeta, SignalStream
from teleop_lake.config.centers import CenterProfile, load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.rejection import RecordingRejected
from teleop_lake.standardize import standardize_recording

ROBOT = load_robot_model("kuavo_4pro")
ZHENGZHOU = load_profile("zhengzhou")
META = RecordingMeta("zhengzhou", "zz-1", "ros1-bag", "kuavo_4pro", "open_microwave_door")
N = 50


def stream(
    name: str, quantities: dict[str, tuple[str, ...]], values: np.ndarray, **kw
) -> SignalStream:
    channels = tuple(f"{q}.{j}" for q, names in quantities.items() for j in names)
    t = 1_790_000_000 * 10**9 + np.arange(len(values), dtype=np.int64) * 2_000_000
    return SignalStream(name, kw.pop("clock", "robot"), t, channels, values, t + 5, f"/{name}")


def raw_recording(profile: CenterProfile = ZHENGZHOU, rng_seed: int = 0) -> tuple[Recording, dict]:
    """A raw recording in ``profile``'s recorder order, and the known values per canonical name."""
    rng = np.random.default_rng(rng_seed)
    order = profile.streams["joint_state"].joint_order
    arm_order = profile.streams["arm_target"].joint_order
    hand_order = profile.streams["hand_state"].joint_order
    q = rng.uniform(-1, 1, (N, 28))
    arm_deg = rng.uniform(-90, 90, (N, 14))
    hands = rng.integers(0, 101, (N, 12)).astype(float)
    quat = rng.normal(size=(N, 4)) * 3
    quat[7] = 0.0  # a zero quaternion
    pos = rng.normal(size=(N, 3))
    signals = {
        "joint_state": stream(
            "joint_state",
            {"position_raw": order, "velocity_raw": order, "effort_raw": order},
            np.hstack([q, q * 2, q * 10]),
        ),
        "joint_command": stream("joint_command", {"position_raw": order}, q + 0.5),
        "arm_target": stream("arm_target", {"position_raw": arm_order}, arm_deg, clock="operator"),
        "hand_command": stream(
            "hand_command", {"position_raw": hand_order}, hands, clock="operator"
        ),
        "hand_state": stream("hand_state", {"position_raw": hand_order}, hands / 2),
        "head_pose": stream(
            "head_pose",
            {"position_raw": ("x", "y", "z"), "orientation_raw": ("qx", "qy", "qz", "qw")},
            np.hstack([pos, quat]),
            clock="operator",
        ),
    }
    truth = {
        "q": {j: q[:, i] for i, j in enumerate(order)},
        "arm_deg": {j: arm_deg[:, i] for i, j in enumerate(arm_order)},
        "hands": {j: hands[:, i] for i, j in enumerate(hand_order)},
        "quat": quat,
        "pos": pos,
    }
    return Recording(META, signals, {}, ()), truth


def test_joint_state_in_canonical_order_and_units() -> None:
    rec, truth = raw_recording()
    out = standardize_recording(rec, ZHENGZHOU, ROBOT)
    js = out.signals["joint_state"]
    names = ROBOT.joint_names
    assert js.channels == (
        tuple(f"position_rad.{j}" for j in names)
        + tuple(f"velocity_rad_s.{j}" for j in names)
        + tuple(f"effort_n_m.{j}" for j in names)
    )
    expected = np.column_stack([truth["q"][j] for j in names])
    np.testing.assert_array_equal(js.values[:, :28], expected)
    np.testing.assert_array_equal(js.values[:, 28:56], expected * 2)
    np.testing.assert_array_equal(js.values[:, 56:], expected * 10)
    # Zhengzhou writes arms first: canonical column 0 (l_leg_roll) is recorder slot 14
    np.testing.assert_array_equal(js.values[:, 0], rec.signals["joint_state"].values[:, 14])
    cmd = out.signals["joint_command"]
    assert cmd.channels == tuple(f"target_rad.{j}" for j in names)
    np.testing.assert_array_equal(cmd.values, expected + 0.5)


def test_release_raw_hands_each_raw_stream_over_as_it_is_converted() -> None:
    kept, _ = raw_recording()
    rec, _ = raw_recording()
    names = list(rec.signals)
    out = standardize_recording(rec, ZHENGZHOU, ROBOT, release_raw=True)
    assert rec.signals == {}  # the raw streams are gone from the input: freed as converted
    same = standardize_recording(kept, ZHENGZHOU, ROBOT)
    assert list(out.signals) == names
    for name in names:
        assert out.signals[name].channels == same.signals[name].channels
        np.testing.assert_array_equal(out.signals[name].values, same.signals[name].values)
    assert len(kept.signals) == len(names)  # without it the input is left as it was


def test_arm_target_degrees_become_radians() -> None:
    rec, truth = raw_recording()
    arm = standardize_recording(rec, ZHENGZHOU, ROBOT).signals["arm_target"]
    assert arm.channels == tuple(f"target_rad.{j}" for j in ROBOT.arm_joint_names)
    assert len(arm.channels) == 14
    for i, j in enumerate(ROBOT.arm_joint_names):
        np.testing.assert_allclose(
            arm.values[:, i], truth["arm_deg"][j] * math.pi / 180, rtol=1e-15
        )
    assert arm.values[0, 0] == pytest.approx(math.radians(truth["arm_deg"]["l_arm_pitch"][0]))


def test_hands_become_closure_fractions() -> None:
    rec, truth = raw_recording()
    out = standardize_recording(rec, ZHENGZHOU, ROBOT)
    for name, factor in (("hand_command", 1.0), ("hand_state", 0.5)):
        hs = out.signals[name]
        assert hs.channels == tuple(f"closure.{j}" for j in ROBOT.hand_joints)
        expected = np.column_stack([truth["hands"][j] for j in ROBOT.hand_joints]) * factor / 100
        np.testing.assert_allclose(hs.values, expected, rtol=1e-15)
        assert hs.values.min() >= 0.0 and hs.values.max() <= 1.0


def test_head_pose_quaternion_is_normalised_and_zero_becomes_nan() -> None:
    rec, truth = raw_recording()
    pose = standardize_recording(rec, ZHENGZHOU, ROBOT).signals["head_pose"]
    assert pose.channels == (
        "position_m.x",
        "position_m.y",
        "position_m.z",
        "orientation.qx",
        "orientation.qy",
        "orientation.qz",
        "orientation.qw",
    )
    np.testing.assert_array_equal(pose.values[:, :3], truth["pos"])
    q = pose.values[:, 3:]
    ok = np.arange(N) != 7
    np.testing.assert_allclose(np.linalg.norm(q[ok], axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(q[0], truth["quat"][0] / np.linalg.norm(truth["quat"][0]))
    assert np.isnan(q[7]).all()


def test_timestamps_clocks_and_input_are_untouched() -> None:
    rec, _ = raw_recording()
    before = {n: s.values.copy() for n, s in rec.signals.items()}
    out = standardize_recording(rec, ZHENGZHOU, ROBOT)
    for name, s in rec.signals.items():
        np.testing.assert_array_equal(s.values, before[name])  # no mutation of the input
        o = out.signals[name]
        assert o.t_ns is s.t_ns and o.t_received_ns is s.t_received_ns
        assert o.clock == s.clock and o.source == s.source
    assert out.meta == rec.meta


def test_unknown_recorder_joint_is_rejected() -> None:
    rec, _ = raw_recording()
    js = rec.signals["joint_state"]
    renamed = tuple(c.replace("l_knee", "l_kneecap") for c in js.channels)
    bad = dataclasses.replace(
        rec, signals={**rec.signals, "joint_state": dataclasses.replace(js, channels=renamed)}
    )
    with pytest.raises(RecordingRejected) as info:
        standardize_recording(bad, ZHENGZHOU, ROBOT)
    (reason,) = info.value.reasons
    assert reason.code == "unknown_joint" and reason.stream == "joint_state"
    assert "l_kneecap" in reason.message and reason.file == "/joint_state"


def test_joint_the_recorder_lacks_becomes_nan_and_is_listed() -> None:
    rec, truth = raw_recording()
    js = rec.signals["joint_state"]
    keep = [i for i, c in enumerate(js.channels) if not c.endswith(".head_yaw")]
    cut = dataclasses.replace(
        js, channels=tuple(js.channels[i] for i in keep), values=js.values[:, keep]
    )
    out = standardize_recording(
        dataclasses.replace(rec, signals={**rec.signals, "joint_state": cut}), ZHENGZHOU, ROBOT
    )
    o = out.signals["joint_state"]
    assert np.isnan(o.values[:, o.channel_index("position_rad.head_yaw")]).all()
    np.testing.assert_array_equal(
        o.values[:, o.channel_index("position_rad.head_pitch")], truth["q"]["head_pitch"]
    )
    assert out.meta.extra["missing_joints"] == {"joint_state": ["head_yaw"]}


def test_profile_name_map_and_bad_unit() -> None:
    rec, truth = raw_recording()
    js = rec.signals["joint_state"]
    renamed = tuple(c.replace(".l_knee", ".LKnee") for c in js.channels)
    mapped = dataclasses.replace(
        rec, signals={**rec.signals, "joint_state": dataclasses.replace(js, channels=renamed)}
    )
    js_map = dataclasses.replace(
        ZHENGZHOU.streams["joint_state"], extra={"joint_name_map": {"LKnee": "l_knee"}}
    )
    profile = dataclasses.replace(ZHENGZHOU, streams={**ZHENGZHOU.streams, "joint_state": js_map})
    o = standardize_recording(mapped, profile, ROBOT).signals["joint_state"]
    np.testing.assert_array_equal(
        o.values[:, o.channel_index("position_rad.l_knee")], truth["q"]["l_knee"]
    )
    bad_unit = dataclasses.replace(ZHENGZHOU.streams["arm_target"], position_unit="grad")
    profile2 = dataclasses.replace(ZHENGZHOU, streams={**ZHENGZHOU.streams, "arm_target": bad_unit})
    with pytest.raises(RecordingRejected) as info:
        standardize_recording(rec, profile2, ROBOT)
    assert (
        info.value.reasons[0].code == "unmapped_stream" and "grad" in info.value.reasons[0].message
    )


@settings(max_examples=25, deadline=None)
@given(perm=st.permutations(list(range(28))), seed=st.integers(0, 2**16))
def test_any_recorder_order_gives_the_same_canonical_output(perm: list[int], seed: int) -> None:
    """Property: permuting the recorder's joint order never changes the standardized result."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(8, 28))
    names = ROBOT.joint_names
    order = tuple(names[i] for i in perm)
    js = stream("joint_state", {"position_raw": order}, q[:, perm])
    out = standardize_recording(Recording(META, {"joint_state": js}, {}), ZHENGZHOU, ROBOT)
    o = out.signals["joint_state"]
    # oracle: look up each canonical joint by name, one at a time
    for i, j in enumerate(names):
        np.testing.assert_array_equal(o.values[:, i], q[:, i])
        assert o.channels[i] == f"position_rad.{j}"
    assert np.isnan(o.values[:, 28:]).all()  # no velocity/effort recorded
