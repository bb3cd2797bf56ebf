"""Known-answer tests: what real rigs deliver as normal (KUAVO.md) is processed as normal.

Joints resting at their stops, frozen sensors on still joints and whole frozen messages,
firmware that leaves velocity unpopulated, rigs without hand state, a stream stamped on the
other clock: each on a synthetic recording with a known truth, through `process_recording`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from synthetic_teleop import NOISE_RAD, make_recording, with_signal

from datalake_schemas import frames_schema
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.processing import ProcessingParams, process_recording

ROBOT = load_robot_model("kuavo_4pro")
TASK = load_task_catalog().get("open_microwave_door")
PARAMS = ProcessingParams()


def _process(recording):
    return process_recording(recording, ROBOT, TASK, "ep-test", PARAMS)


def _findings(ep, kind: str) -> pl.DataFrame:
    return ep.findings.filter(pl.col("kind") == kind)


def _set_channel(recording, stream: str, channel: str, values: np.ndarray):
    s = recording.signals[stream]
    new = s.values.copy()
    new[:, s.channel_index(channel)] = values
    return with_signal(recording, replace(s, values=new))


def test_a_joint_resting_at_its_stop_is_noise_not_spikes_nor_limits() -> None:
    rng = np.random.default_rng(1)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    js = rec.signals["joint_state"]
    stop = ROBOT.joints[ROBOT.joint_names.index("l_forearm_pitch")].position_max_rad
    # an elbow fully extended against its stop for the whole recording: half the readings
    # sit past the nominal limit, by the sensor's noise
    resting = stop + rng.normal(0.0, NOISE_RAD, js.n_samples)
    ep = _process(_set_channel(rec, "joint_state", "position_rad.l_forearm_pitch", resting))
    assert _findings(ep, "spike").height == 0
    assert _findings(ep, "limit_violation").height == 0
    at_stop = _findings(ep, "at_stop")
    assert at_stop["channel"].to_list() == ["position_rad.l_forearm_pitch"]
    row = at_stop.row(0, named=True)
    assert row["expected"] == pytest.approx(stop) and row["residual_sigma"] < 6.0
    assert row["noise_floor"] == pytest.approx(NOISE_RAD, rel=0.2)
    assert ep.publishable and ep.summary["quality_score"] > 0.95
    assert ep.frames["flag.limit_violation"].sum() == 0


def test_a_reading_far_past_a_limit_is_a_limit_finding_with_its_excess() -> None:
    rng = np.random.default_rng(2)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    js = rec.signals["joint_state"]
    col = js.channel_index("position_rad.l_forearm_pitch")
    stop = ROBOT.joints[ROBOT.joint_names.index("l_forearm_pitch")].position_max_rad
    values = js.values[:, col].copy()
    values[3000:3500] = stop + 0.05 + rng.normal(0.0, NOISE_RAD, 500)  # 250 sigmas past it
    ep = _process(_set_channel(rec, "joint_state", "position_rad.l_forearm_pitch", values))
    limits = _findings(ep, "limit_violation")
    assert limits.height == 1 and _findings(ep, "spike").height == 0
    row = limits.row(0, named=True)
    assert row["value"] - row["expected"] == pytest.approx(0.05, abs=2e-3)
    assert row["residual_sigma"] == pytest.approx(0.05 / NOISE_RAD, rel=0.25)
    assert row["rule"] == "limit.upper"


def test_a_frozen_still_joint_is_found_on_its_noise() -> None:
    rng = np.random.default_rng(3)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    js = rec.signals["joint_state"]
    # a head joint that does not move (noise only), its encoder frozen for 0.5 s
    still = 0.1 + rng.normal(0.0, NOISE_RAD, js.n_samples)
    still[4000:4250] = still[3999]
    rec = _set_channel(rec, "joint_state", "position_rad.head_pitch", still)
    cmd = rec.signals["joint_command"]
    rec = _set_channel(rec, "joint_command", "target_rad.head_pitch", np.full(cmd.n_samples, 0.1))
    ep = _process(rec)
    frozen = _findings(ep, "frozen")
    assert frozen["channel"].to_list() == ["position_rad.head_pitch"]
    assert frozen["rule"].to_list() == ["frozen.noise"]
    assert frozen["n_samples"].to_list() == [251]


def test_a_frozen_whole_message_is_one_stream_finding() -> None:
    rng = np.random.default_rng(4)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    js = rec.signals["joint_state"]
    values = js.values.copy()
    values[5000:5300] = values[4999]  # the driver republished its last message for 0.6 s
    ep = _process(with_signal(rec, replace(js, values=values)))
    frozen = _findings(ep, "frozen")
    assert frozen.height == 1
    row = frozen.row(0, named=True)
    assert row["channel"] == "" and row["rule"] == "frozen.message"
    assert row["end_ns"] - row["start_ns"] == 300 * 2_000_000
    assert ep.frames["flag.frozen"].sum() >= 29


def test_unpopulated_velocity_is_null_and_never_a_fault() -> None:
    rng = np.random.default_rng(5)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    js = rec.signals["joint_state"]
    values = js.values.copy()
    velocity = [i for i, c in enumerate(js.channels) if c.startswith("velocity_rad_s.")]
    values[:, velocity] = 0.0  # firmware that never fills joint_v
    ep = _process(with_signal(rec, replace(js, values=values)))
    assert ep.publishable and _findings(ep, "frozen").height == 0
    status = ep.channels.filter(pl.col("channel").str.starts_with("velocity_rad_s."))
    assert status.height == 28 and set(status["status"]) == {"unpopulated"}
    assert not status["required"].any()
    vel_cols = [c for c in ep.frames.columns if c.startswith("obs.velocity_rad_s.")]
    assert ep.frames.select(vel_cols).null_count().sum_horizontal().item() == 28 * ep.frames.height
    frames_schema().validate(ep.frames)


def test_a_rig_without_hand_state_publishes_and_says_so() -> None:
    rng = np.random.default_rng(6)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    signals = {k: v for k, v in rec.signals.items() if k != "hand_state"}
    meta = replace(rec.meta, extra={"absent_optional_streams": ["hand_state"]})
    ep = _process(replace(rec, signals=signals, meta=meta))
    assert ep.publishable
    assert ep.summary["absent_streams"] == "hand_state"
    absent = ep.channels.filter(pl.col("status") == "absent")
    assert set(absent["stream"]) == {"hand_state"} and absent.height == len(ROBOT.hand_joints)
    assert ep.label.outcome in ("success", "unknown")  # the operator's mark, no grasp evidence
    hand_cols = [c for c in ep.frames.columns if c.startswith("obs.hand_closure.")]
    assert ep.frames.select(hand_cols).null_count().sum_horizontal().item() == (
        len(hand_cols) * ep.frames.height
    )


def test_a_long_freeze_of_an_optional_channel_flags_but_does_not_gate() -> None:
    rng = np.random.default_rng(7)
    rec, _ = make_recording(rng, 20.0, cameras=False)
    js = rec.signals["joint_state"]
    col = js.channel_index("effort_n_m.l_knee")
    values = js.values[:, col].copy()
    values[2000:4000] = values[1999]  # 4 s: over max_frozen_s
    ep = _process(_set_channel(rec, "joint_state", "effort_n_m.l_knee", values))
    assert ep.publishable, ep.gate_reasons
    status = ep.channels.filter(pl.col("channel") == "effort_n_m.l_knee")["status"].item()
    assert status == "faulty"
    # the same on a required channel (a position) gates the episode
    pos = js.channel_index("position_rad.l_knee")
    values = js.values[:, pos].copy()
    values[2000:4000] = values[1999]
    ep = _process(_set_channel(rec, "joint_state", "position_rad.l_knee", values))
    assert [r.code for r in ep.gate_reasons][:1] == ["long_frozen"]


def test_a_stream_stamped_on_the_robot_clock_is_found_and_aligned_on_it() -> None:
    rng = np.random.default_rng(8)
    offset_ns = -918_000_000
    rec, truth = make_recording(rng, 30.0, offset_ns, 40.0, cameras=False)
    hand = rec.signals["hand_command"]
    # a misconfigured rig: the hand command stamped on the robot clock, not the station's
    send_ns = truth.t_ref_ns + np.rint(
        (hand.t_ns - truth.t_ref_ns - offset_ns) / (1 + truth.drift_ppm * 1e-6)
    ).astype(np.int64)
    rec = with_signal(rec, replace(hand, t_ns=send_ns))
    ep = _process(rec)
    mismatch = _findings(ep, "clock_domain_mismatch")
    assert mismatch["stream"].to_list() == ["hand_command"]
    assert ep.summary["n_clock_domain_mismatches"] == 1
    # the arm clock is estimated without it: the true offset within the claimed uncertainty
    error_ms = abs(ep.summary["operator_clock_offset_ms"] - offset_ns / 1e6)
    assert error_ms <= ep.summary["clock_uncertainty_ms"] <= 10.0
    clocks = ep.clocks.filter(pl.col("stream") == "hand_command").row(0, named=True)
    assert (clocks["declared_clock"], clocks["observed_clock"]) == ("operator", "robot")
    # and the hand command lands where it was sent: closing ~ a quarter into the recording
    closing = ep.frames.filter(pl.col("action.hand_closure.r_index") > 0.5)["t_rel_s"].min()
    assert closing == pytest.approx(30.0 * 0.25 + 0.2, abs=0.1)


def test_no_mismatch_when_every_stream_is_on_its_declared_clock() -> None:
    for seed in range(9, 14):
        rec, _ = make_recording(np.random.default_rng(seed), 20.0, cameras=False)
        ep = _process(rec)
        assert _findings(ep, "clock_domain_mismatch").height == 0, seed
        assert ep.summary["clock_status"] == "resolved"


def test_arm_targets_stamped_on_the_robot_clock_are_found_and_the_station_clock_kept() -> None:
    rng = np.random.default_rng(15)
    offset_ns = 1_150_000_000
    rec, truth = make_recording(rng, 30.0, offset_ns, -30.0, cameras=False)
    arm = rec.signals["arm_target"]
    send_ns = truth.t_ref_ns + np.rint(
        (arm.t_ns - truth.t_ref_ns - offset_ns) / (1 + truth.drift_ppm * 1e-6)
    ).astype(np.int64)
    ep = _process(with_signal(rec, replace(arm, t_ns=send_ns)))
    mismatch = _findings(ep, "clock_domain_mismatch")
    assert mismatch["stream"].to_list() == ["arm_target"]
    # the station clock from the other station streams' receive stamps, honestly wide
    error_ms = abs(ep.summary["operator_clock_offset_ms"] - offset_ns / 1e6)
    assert error_ms <= ep.summary["clock_uncertainty_ms"] <= 20.0
    assert ep.publishable, ep.gate_reasons
    # the arm targets stay where they were sent: the robot command follows them 20 ms later
    frames = ep.frames
    arm_col, cmd_col = "action.arm_target_rad.l_arm_pitch", "action.target_rad.l_arm_pitch"
    lag = frames[cmd_col].to_numpy()[2:] - frames[arm_col].to_numpy()[1:-1]
    assert np.nanmedian(np.abs(lag)) < 0.01
