"""Rig variation in the simulated network, each variant against what was really written.

The shares and ranges are checked on the pure draws (many rigs and recordings, no files);
each variant's truth is checked against the files of one small ``stress`` network of the two
Kuavo-format centers (seed chosen so that every variant is among its intact recordings),
and single episodes check the physics (stops, latency, claw codes) without writing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import polars as pl
import pytest
from bag_reading import BagReader
from rosbags.highlevel import AnyReader
from synthetic_teleop import SMALL_CAMERA

from teleop_lake.config.centers import CENTER_NAMES, CenterProfile, load_profile
from teleop_lake.config.robots import load_robot_model
from teleop_lake.config.tasks import load_task_catalog
from teleop_lake.simulate import simulate_network, simulation_profile
from teleop_lake.simulate.claw import (
    CLAW_ERROR,
    CLAW_GRABBED,
    CLAW_MOVING,
    CLAW_REACHED,
    CLAW_UNKNOWN,
)
from teleop_lake.simulate.episode import EpisodeData, simulate_episode
from teleop_lake.simulate.params import FAILURE_REASONS, SimulationProfile
from teleop_lake.simulate.rig import (
    CLOCK_MISMATCH_CANDIDATES,
    Rig,
    draw_conditions,
    draw_rig,
    nominal_rig,
)
from teleop_lake.simulate.story import draw_story
from teleop_lake.simulate.streams import DECLARED_CLOCKS, OperatorClock
from teleop_lake.simulate.writers import write_recording

DATE = "2026-11-23"
# Seed 3 of the stress profile at beijing and zhengzhou, 8 recordings each: among the intact
# recordings claw rigs, hand state on the alternative topic and none at all, unpopulated
# torque, joint_current, no eef_type, a far-off clock with a mismatched stream, frozen faults
# on still and moving joints and a frozen whole message. (An unpopulated velocity in a bag:
# `test_a_kuavo_bag_writes_unpopulated_fields_as_zeros`.)
SEED = 3
CENTERS = ("beijing", "zhengzhou")
KUAVO = load_robot_model("kuavo_4pro")
TASKS = {t.code: t for t in load_task_catalog().tasks}
START_NS = 1_795_395_600_000_000_000
MS = 1_000_000


def _binomial_ok(count: int, n: int, p: float) -> bool:
    """``count`` of ``n`` is within 4 standard deviations of ``n * p``."""
    return abs(count - n * p) <= 4.0 * np.sqrt(n * p * (1.0 - p)) + 1.0


# --- shares and ranges of the draws ---------------------------------------------------------


@cache
def _rigs(center: str, profile: str, n: int = 3000) -> tuple[Rig, ...]:
    sim = simulation_profile(profile)
    p = load_profile(center)
    return tuple(draw_rig(p, sim, np.random.default_rng([7, k])) for k in range(n))


@pytest.mark.parametrize("profile", ["default", "stress"])
def test_kuavo_rigs_vary_at_the_documented_shares(profile: str) -> None:
    rigs = _rigs("beijing", profile)
    n = len(rigs)
    claws = [r for r in rigs if r.end_effector == "claw"]
    hands = [r for r in rigs if r.end_effector == "hand"]
    assert _binomial_ok(len(claws), n, 0.30)
    assert {r.eef_type for r in claws} == {"leju_claw"}
    assert _binomial_ok(sum(r.eef_type == "qiangnao" for r in hands), len(hands), 0.8)
    assert {r.eef_type for r in hands} == {"qiangnao", "dexhand"}
    # hands: primary topic 60%, first alternative 25%, none 15%; claws: 85% publish state
    sources = [r.end_effector_state_source for r in hands]
    assert _binomial_ok(sources.count(0), len(hands), 0.60)
    assert _binomial_ok(sources.count(1), len(hands), 0.25)
    assert _binomial_ok(sources.count(None), len(hands), 0.15)
    assert _binomial_ok(sum(r.end_effector_state_source == 0 for r in claws), len(claws), 0.85)
    assert {r.end_effector_state_source for r in claws} == {0, None}
    assert _binomial_ok(sum(not r.velocity_populated for r in rigs), n, 0.20)
    assert _binomial_ok(sum(not r.effort_populated for r in rigs), n, 0.15)
    assert _binomial_ok(sum(r.effort_field == "joint_current" for r in rigs), n, 0.30)
    assert {r.effort_field for r in rigs} == {"joint_torque", "joint_current"}
    # encoder noise log-uniform over 1e-4..2e-3 rad: a quarter of the rigs per quarter decade-ish
    noise = np.log(np.array([r.position_noise_rad or 0.0 for r in rigs]))
    lo, hi = np.log(1e-4), np.log(2e-3)
    assert lo <= noise.min() and noise.max() <= hi
    assert _binomial_ok(int((noise < (lo + hi) / 2).sum()), n, 0.5)
    rates = np.array(
        [
            (
                r.rates.arm_target_rate_hz,
                r.rates.hand_command_rate_hz,
                r.rates.hand_state_rate_hz,
                r.rates.head_pose_rate_hz,
            )
            for r in rigs
        ]
    )
    assert rates[:, :3].min() >= 80.0 and rates[:, :3].max() <= 120.0
    assert rates[:, 3].min() >= 60.0 and rates[:, 3].max() <= 120.0
    assert np.ptp(rates, axis=0).min() > 35.0  # really spread
    assert {(r.rates.joint_rate_hz, r.rates.camera_rate_hz) for r in rigs} == {(500.0, 30.0)}


def test_other_formats_vary_without_claws_or_joint_current() -> None:
    for center in ("jinan", "suzhou", "hefei"):
        rigs = _rigs(center, "default", 2000)
        assert {r.end_effector for r in rigs} == {"hand"}
        assert {r.effort_field for r in rigs} == {None}
        states = [r.end_effector_state_source for r in rigs]
        assert set(states) == {0, None} and _binomial_ok(states.count(None), len(rigs), 0.15)
        assert _binomial_ok(sum(not r.velocity_populated for r in rigs), len(rigs), 0.20)
    # rosbag2's own compression: ROS 2 rigs only, per message 15%, per file 10%
    jinan = [r.rosbag2_compression for r in _rigs("jinan", "default", 2000)]
    assert _binomial_ok(jinan.count("message"), len(jinan), 0.15)
    assert _binomial_ok(jinan.count("file"), len(jinan), 0.10)
    for center in ("beijing", "suzhou", "hefei"):
        assert {r.rosbag2_compression for r in _rigs(center, "default", 2000)} == {""}
    # MCAP storage: ROS 2 rigs not compressing whole files, fastwrite 15%, zstd chunks 35%
    stored = [
        r.mcap_storage for r in _rigs("jinan", "default", 2000) if r.rosbag2_compression != "file"
    ]
    assert _binomial_ok(stored.count("fastwrite"), len(stored), 0.15)
    assert _binomial_ok(stored.count("zstd_chunks"), len(stored), 0.35)
    assert {
        r.mcap_storage for r in _rigs("jinan", "default", 2000) if r.rosbag2_compression == "file"
    } == {""}
    for center in ("beijing", "suzhou", "hefei"):
        assert {r.mcap_storage for r in _rigs(center, "default", 2000)} == {""}


def test_clean_rigs_are_plain() -> None:
    for center in CENTER_NAMES:
        rigs = _rigs(center, "clean", 300)
        assert {
            (
                r.end_effector,
                r.end_effector_state_source,
                r.velocity_populated,
                r.effort_populated,
                r.position_noise_rad,
            )
            for r in rigs
        } == {("hand", 0, True, True, None)}
        assert {r.effort_field for r in rigs} <= {"joint_torque", None}
        assert {r.rates.arm_target_rate_hz for r in rigs} == {100.0}
        assert {r.rosbag2_compression for r in rigs} == {""}


@pytest.mark.parametrize(("profile", "mismatch_share"), [("default", 0.05), ("stress", 0.10)])
def test_recording_conditions_vary_around_the_rig(profile: str, mismatch_share: float) -> None:
    sim = simulation_profile(profile)
    rigs = _rigs("beijing", profile, 400)
    task = TASKS["pack_parcel"]
    n = 1200
    latency, mismatch, eef_missing, n_rests, overdrive = [], [], 0, [], []
    for k in range(n):
        rng = np.random.default_rng([11, k])
        rig = rigs[k % len(rigs)]
        story = draw_story(task, "beijing", sim, 0.3, rng)
        c = draw_conditions(rig, KUAVO, story, sim, rng)
        latency.append(c.control_latency_ms)
        eef_missing += c.eef_type is None
        assert c.eef_type in (None, rig.eef_type)
        if c.clock_mismatch_stream is not None:
            mismatch.append(c.clock_mismatch_stream)
            assert c.clock_mismatch_stream in CLOCK_MISMATCH_CANDIDATES
            assert (
                c.clock_mismatch_stream != "hand_state" or rig.end_effector_state_source is not None
            )
        n_rests.append(len(c.stop_rests))
        overdrive += [r.overdrive_rad for r in c.stop_rests]
        assert {r.joint for r in c.stop_rests} <= set(KUAVO.arm_joint_names)
        # noise: the rig's level times 0.8..1.25; the other sigmas in proportion
        ratio = c.noise.position_rad / (rig.position_noise_rad or np.nan)
        assert 0.8 <= ratio <= 1.25
        assert c.noise.velocity_rad_s == pytest.approx(3e-3 * c.noise.position_rad / 2e-4)
    lat = np.array(latency)
    assert 15.0 <= lat.min() < 15.5 and 24.5 < lat.max() <= 25.0  # uniform over 20 +- 5 ms
    assert abs(np.mean(lat) - 20.0) < 0.3
    assert _binomial_ok(eef_missing, n, 0.05)
    assert _binomial_ok(len(mismatch), n, mismatch_share)
    assert set(mismatch) == set(CLOCK_MISMATCH_CANDIDATES)
    assert set(n_rests) == {1, 2, 3, 4}
    assert min(overdrive) >= 0.05 and max(overdrive) <= 0.3


def test_clean_recordings_keep_the_nominal_values() -> None:
    sim = simulation_profile("clean")
    rig = nominal_rig(load_profile("beijing"), sim.motion)
    for k in range(200):
        rng = np.random.default_rng(k)
        story = draw_story(TASKS["fold_towel"], "beijing", sim, 0.3, rng)
        c = draw_conditions(rig, KUAVO, story, sim, rng)
        assert c.control_latency_ms == KUAVO.control_latency_ms
        assert c.clock_mismatch_stream is None and c.stop_rests == ()
        assert c.eef_type == "dexhand" and 1.5e-4 <= c.noise.position_rad <= 2.5e-4


def test_every_profile_declares_the_clocks_the_simulator_stamps_with() -> None:
    for center in CENTER_NAMES:
        profile = load_profile(center)
        kinds = [profile.for_end_effector(k) for k in ("hand", *profile.end_effector_streams)]
        for p in kinds:
            for name, mapping in p.streams.items():
                for candidate in mapping.candidates():
                    assert candidate.clock == DECLARED_CLOCKS[name], (center, candidate.topic)


# --- single episodes: stops, latency, claws -------------------------------------------------


def _forced(base: str, reason: str | None) -> SimulationProfile:
    sim = simulation_profile(base)
    if reason is None:
        return replace(sim, success_rate=1.0)
    weights = tuple(1.0 if r == reason else 0.0 for r in FAILURE_REASONS)
    return replace(sim, success_rate=0.0, failure_weights=weights)


@cache
def _default_episode(seed: int, rig: Rig | None = None) -> EpisodeData:
    sim = _forced("default", None)
    return simulate_episode(
        "beijing",
        TASKS["open_microwave_door"],
        KUAVO,
        sim,
        START_NS,
        0.3,
        np.random.SeedSequence([3, seed]),
        rig=rig,
    )


def test_joints_at_a_stop_read_the_stop_plus_noise_and_the_others_stay_inside() -> None:
    lo, hi = KUAVO.position_limits_rad()
    v_max = np.array([j.velocity_max_rad_s for j in KUAVO.joints])
    e_max = np.array([j.effort_max_nm for j in KUAVO.joints])
    n = len(KUAVO.joints)
    crossings = 0
    for seed in range(4):
        ep = _default_episode(seed)
        js, target = ep.streams["joint_state"], ep.streams["arm_target"]
        sigma = ep.position_noise_rad
        pos, vel, eff = js.values[:, :n], js.values[:, n : 2 * n], js.values[:, 3 * n : 4 * n]
        assert ep.at_stop and {s.rest.joint for s in ep.at_stop} == {
            r.joint for r in ep.conditions.stop_rests
        }
        resting = np.zeros(pos.shape, dtype=bool)
        for span in ep.at_stop:
            rest, i = span.rest, KUAVO.joint_names.index(span.rest.joint)
            assert rest.stop_rad == rest.limit_rad == (hi[i] if rest.side == "max" else lo[i])
            on = (js.t_true_ns >= span.start_ns + 2 * MS) & (js.t_true_ns < span.end_ns - 2 * MS)
            if on.sum() < 50:
                continue
            resting[(js.t_true_ns >= span.start_ns - 50 * MS) & (js.t_true_ns < span.end_ns), i] = (
                True
            )
            past = (pos[on, i] - rest.stop_rad) * (1.0 if rest.side == "max" else -1.0)
            # on the stop: the stop plus noise, about half the readings past the nominal range
            assert abs(np.median(past)) < sigma and np.std(past) == pytest.approx(sigma, rel=0.3)
            assert 0.3 < np.mean(past > 0) < 0.7 and past.max() < 6 * sigma
            crossings += 1
            # velocity zero there (plus noise), the servo pushing into the stop
            assert abs(np.mean(vel[on, i])) < 3 * ep.conditions.noise.velocity_rad_s
            push = eff[on, i] * (1.0 if rest.side == "max" else -1.0)
            assert np.median(push) > 0.0
            # the operator's target, and so the command, is past the stop by the overdrive
            t_on = (target.t_true_ns >= span.start_ns + 200 * MS) & (
                target.t_true_ns < span.end_ns - 200 * MS
            )
            col = target.channels.index(f"target_rad.{rest.joint}")
            beyond = (target.values[t_on, col] - rest.stop_rad) * (
                1.0 if rest.side == "max" else -1.0
            )
            if t_on.any():
                assert np.median(beyond) == pytest.approx(rest.overdrive_rad, abs=0.01)
        margin = 6 * sigma
        outside = (pos < lo - margin) | (pos > hi + margin)
        assert not outside.any()
        assert not ((pos < lo) | (pos > hi))[:, ~resting.any(axis=0)].any()
        assert (np.abs(vel) <= v_max).all() and (np.abs(eff) <= e_max).all()
    assert crossings >= 3


def test_the_command_follows_the_target_after_each_recordings_latency() -> None:
    latencies = []
    for seed in range(4):
        ep = _default_episode(seed)
        arm, cmd = ep.streams["arm_target"], ep.streams["joint_command"]
        rest = {r.joint for r in ep.conditions.stop_rests}
        j = max(
            (i for i, c in enumerate(arm.channels) if c.split(".", 1)[1] not in rest),
            key=lambda i: np.ptp(arm.values[:, i]),
        )
        name = arm.channels[j].split(".", 1)[1]
        c = cmd.values[:, cmd.channels.index(f"target_rad.{name}")]
        lags_ms = np.arange(10.0, 30.0, 0.25)
        errors = [
            np.abs(np.interp(cmd.t_true_ns - lag * MS, arm.t_true_ns, arm.values[:, j]) - c)[
                100:
            ].mean()
            for lag in lags_ms
        ]
        latency = ep.conditions.control_latency_ms
        assert 15.0 <= latency <= 25.0
        assert lags_ms[int(np.argmin(errors))] == pytest.approx(latency, abs=1.0)
        latencies.append(latency)
    assert np.ptp(latencies) > 2.0  # not one value for every recording


@pytest.mark.parametrize("reason", [None, "grasp_missed", "emergency_stop"])
def test_a_claw_follows_the_grasp_story_and_reports_its_state(reason: str | None) -> None:
    base = nominal_rig(load_profile("beijing"), simulation_profile("default").motion)
    rig = replace(base, end_effector="claw", eef_type="leju_claw")
    for seed in range(3):
        ep = simulate_episode(
            "beijing",
            TASKS["open_microwave_door"],
            KUAVO,
            _forced("default", reason),
            START_NS,
            0.3,
            np.random.SeedSequence([5, seed]),
            rig=rig,
        )
        hs, cmd = ep.streams["hand_state"], ep.streams["hand_command"]
        assert cmd.channels == ("closure.l_claw", "closure.r_claw")
        side = ep.story.task.grasp_hand[0]
        closure = hs.values[:, hs.channels.index(f"closure.{side}_claw")]
        codes = hs.values[:, hs.channels.index(f"state_code.{side}_claw")].astype(int)
        assert set(codes) <= {CLAW_ERROR, CLAW_UNKNOWN, CLAW_MOVING, CLAW_REACHED, CLAW_GRABBED}
        assert codes[0] == CLAW_UNKNOWN and CLAW_UNKNOWN not in codes[10:]
        assert CLAW_MOVING in codes
        if reason is None:  # stopped short on the object, holding it: grabbed
            grabbed = closure[codes == CLAW_GRABBED]
            assert len(grabbed) > 50 and 0.5 < np.median(grabbed) < 0.8
        elif reason == "grasp_missed":  # closed on nothing: reached, never grabbed
            assert CLAW_GRABBED not in codes and closure.max() > 0.93
        elif ep.story.timeline.robot_fault_s is not None:
            fault_ns = START_NS + ep.story.timeline.robot_fault_s * 1e9
            assert (codes[hs.t_true_ns >= fault_ns + 20 * MS] == CLAW_ERROR).all()


# --- one network: every variant's truth against the written files ---------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("variation")
    simulate_network(
        out,
        episodes_per_center=8,
        seed=SEED,
        date=DATE,
        profile="stress",
        centers=CENTERS,
        duration_scale=0.2,
        camera_size=SMALL_CAMERA,
    )
    return out


def _truth(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / "_truth" / f"{table}.parquet")


def _intact(out: Path) -> pl.DataFrame:
    return _truth(out, "recordings").filter(
        pl.col("file_fault").is_in(["none", "checksum_mismatch"])
    )


@dataclass
class Topic:
    msgtype: str
    msgdef: str
    record_ns: np.ndarray
    msgs: list[Any]

    def stamps_ns(self) -> np.ndarray:
        return np.array([m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in self.msgs])


def _bag_parts(out: Path, center: str, recording_id: str) -> list[Path]:
    manifest = (out / center / DATE / "_manifest.jsonl").read_text(encoding="utf-8")
    line = next(
        x for x in map(json.loads, manifest.splitlines()) if x["recording_id"] == recording_id
    )
    return sorted(
        out / center / DATE / f["path"] for f in line["files"] if f["path"].endswith(".bag")
    )


@cache
def _topics(out: Path, center: str, recording_id: str) -> dict[str, tuple[str, str]]:
    """Topic -> (message type, message definition) of a recording's bag (or its parts)."""
    with BagReader(_bag_parts(out, center, recording_id)) as reader:
        return {c.topic: (c.msgtype, c.msgdef.data) for c in reader.connections}


@cache
def _read(out: Path, center: str, recording_id: str, topic: str) -> Topic:
    """One topic of a recording, decoded with the definitions embedded in the bag."""
    times, msgs = [], []
    with BagReader(_bag_parts(out, center, recording_id)) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, t_ns, data in reader.messages(conns):
            times.append(t_ns)
            msgs.append(reader.deserialize(data, conn.msgtype))
    msgtype, msgdef = _topics(out, center, recording_id)[topic]
    return Topic(msgtype, msgdef, np.array(times, dtype=np.int64), msgs)


def _rows(out: Path, where: pl.Expr) -> list[dict[str, Any]]:
    rows = _intact(out).filter(where).to_dicts()
    assert rows, f"no intact recording with {where}"
    return rows


def _hand_topics(profile: CenterProfile) -> set[str]:
    return {
        c.topic
        for kind in ("hand", *profile.end_effector_streams)
        for name in ("hand_command", "hand_state")
        for c in profile.for_end_effector(kind).streams[name].candidates()
    }


def test_every_variant_is_among_the_intact_recordings(network: Path) -> None:
    rec = _intact(network)
    faults = _truth(network, "faults").filter(
        pl.col("recording_id").is_in(rec["recording_id"]) & (pl.col("kind") == "frozen")
    )
    assert set(rec["end_effector"]) == {"hand", "claw"}
    topics = set(rec["hand_state_topic"].drop_nulls())
    assert {"/leju_claw_state", "/dexhand/state", "/control_robot_hand_position_state"} <= topics
    alternative = {c: load_profile(c).streams["hand_state"].alternatives[0].topic for c in CENTERS}
    assert any(
        alternative[r["center"]] == r["hand_state_topic"] and r["end_effector"] == "hand"
        for r in rec.to_dicts()
    )
    assert rec["hand_state_topic"].null_count() >= 1 and rec["eef_type"].null_count() >= 1
    assert not rec["effort_populated"].all()
    assert set(rec["effort_field"]) == {"joint_torque", "joint_current"}
    assert rec["clock_mismatch_stream"].drop_nulls().len() >= 1
    scopes = set(zip(faults["scope"], faults["moving"], strict=True))
    assert {("channel", True), ("channel", False)} <= scopes
    assert "message" in set(faults["scope"])
    assert _truth(network, "at_stop").height >= 5


def test_a_claw_rig_writes_claw_topics_and_no_hand_topics(network: Path) -> None:
    for row in _rows(network, pl.col("end_effector") == "claw"):
        profile = load_profile(row["center"])
        claw = profile.for_end_effector("claw").streams
        topics = _topics(network, row["center"], row["recording_id"])
        hand_like = _hand_topics(profile) & set(topics)
        expected = {claw["hand_command"].topic}
        if row["hand_state_topic"] is not None:
            expected.add(row["hand_state_topic"])
        assert hand_like == expected and row["eef_type"] in (None, "leju_claw")
        command = _read(network, row["center"], row["recording_id"], "/leju_claw_command")
        assert command.msgtype == "kuavo_msgs/msg/lejuClawCommand"
        assert command.msgdef.startswith("std_msgs/Header header\nkuavo_msgs/endEffectorData data")
        closure = np.array([m.data.position for m in command.msgs])
        assert closure.shape[1] == 2 and closure.min() >= 0.0 and closure.max() <= 100.0
        if row["hand_state_topic"] is None:
            continue
        state = _read(network, row["center"], row["recording_id"], "/leju_claw_state")
        assert state.msgtype == "kuavo_msgs/msg/lejuClawState"
        assert "int8[] state" in state.msgdef
        codes = np.array([m.state for m in state.msgs])
        assert codes.dtype == np.int8 and codes.shape[1] == 2
        assert set(np.unique(codes)) <= {-1, 0, 1, 2, 3} and codes[0].tolist() == [0, 0]
        assert {m.data.name[0] for m in state.msgs} == {"l_claw"}
        if row["true_outcome"] == "success":
            side = {"left": 0, "right": 1, "both": 0}[row["grasp_hand"]]
            assert CLAW_GRABBED in codes[:, side]


def test_the_hand_state_topic_in_the_truth_is_the_one_written(network: Path) -> None:
    for row in _intact(network).to_dicts():
        profile = load_profile(row["center"])
        topics = _topics(network, row["center"], row["recording_id"])
        state = profile.for_end_effector(row["end_effector"]).streams["hand_state"]
        written = {c.topic for c in state.candidates()} & set(topics)
        if row["hand_state_topic"] is None:
            assert written == set(), row["recording_id"]
        else:
            assert written == {row["hand_state_topic"]}, row["recording_id"]
            (mapping,) = [c for c in state.candidates() if c.topic == row["hand_state_topic"]]
            assert topics[mapping.topic][0].replace("/msg/", "/") == mapping.message


def test_unpopulated_fields_are_all_zeros_and_the_torque_field_is_named_as_the_truth_says(
    network: Path,
) -> None:
    seen = set()
    for row in _intact(network).filter(pl.col("missing_stream").is_null()).to_dicts():
        sensors = _read(network, row["center"], row["recording_id"], "/sensors_data_raw")
        field = row["effort_field"]
        assert f"\nfloat64[] {field}\n" in sensors.msgdef
        other = {"joint_torque": "joint_current", "joint_current": "joint_torque"}[field]
        assert f"float64[] {other}" not in sensors.msgdef
        v = np.array([m.joint_data.joint_v for m in sensors.msgs])
        tau = np.array([getattr(m.joint_data, field) for m in sensors.msgs])
        assert (v == 0.0).all() == (not row["velocity_populated"])
        assert (tau == 0.0).all() == (not row["effort_populated"])
        if row["velocity_populated"]:
            assert (v != 0.0).mean() > 0.99
        seen |= {(row["effort_populated"], field)}
    assert {e for e, _ in seen} == {True, False}
    assert {f for _, f in seen} == {"joint_torque", "joint_current"}


def test_a_kuavo_bag_writes_unpopulated_fields_as_zeros(tmp_path: Path) -> None:
    profile = load_profile("beijing")
    sim = simulation_profile("clean")
    rig = replace(
        nominal_rig(profile, sim.motion),
        velocity_populated=False,
        effort_populated=False,
        effort_field="joint_current",
    )
    ep = simulate_episode(
        "beijing",
        TASKS["fold_towel"],
        KUAVO,
        sim,
        START_NS,
        0.2,
        np.random.SeedSequence(2),
        rig=rig,
    )
    (path,) = write_recording(tmp_path, "rec-0001", profile, KUAVO, ep, 0.2, "SN")
    with BagReader([path]) as reader:
        (conn,) = [c for c in reader.connections if c.topic == "/sensors_data_raw"]
        assert "float64[] joint_current\n" in conn.msgdef.data
        msgs = [reader.deserialize(d, conn.msgtype) for _, _, d in reader.messages([conn])]
    assert all(not m.joint_data.joint_v.any() for m in msgs)
    assert all(not m.joint_data.joint_current.any() for m in msgs)
    assert all(m.joint_data.joint_q.any() and m.joint_data.joint_vd.any() for m in msgs)


def _joint_state_rows(
    network: Path, row: dict[str, Any], start_ns: int, end_ns: int
) -> tuple[Topic, np.ndarray]:
    topic = _read(network, row["center"], row["recording_id"], "/sensors_data_raw")
    t = topic.stamps_ns()  # robot clock, jitter far below half a period
    return topic, np.flatnonzero((t >= start_ns) & (t < end_ns))


def test_frozen_still_joints_and_whole_messages_repeat_bit_exactly(network: Path) -> None:
    rec = _intact(network).filter(pl.col("missing_stream").is_null())
    faults = _truth(network, "faults").filter(
        pl.col("recording_id").is_in(rec["recording_id"]) & (pl.col("kind") == "frozen")
    )
    sigma_of = dict(
        _truth(network, "noise").select("recording_id", "position_sigma_rad").iter_rows()
    )
    checked = {"still": 0, "moving": 0, "message": 0}
    for f in faults.to_dicts():
        row = rec.filter(pl.col("recording_id") == f["recording_id"]).row(0, named=True)
        order = load_profile(row["center"]).streams["joint_state"].joint_order
        topic, idx = _joint_state_rows(network, row, f["start_ns"], f["end_ns"])
        assert len(idx) >= 0.3 * 500 - 1
        span = [topic.msgs[i] for i in range(idx[0] - 1, idx[-1] + 1)]
        after = topic.msgs[idx[-1] + 1]
        assert (np.diff(topic.stamps_ns()[idx[0] - 1 : idx[-1] + 1]) > 0).all()
        if f["scope"] == "message":
            assert f["channels"] == []
            for name in ("joint_q", "joint_v", "joint_vd", row["effort_field"]):
                block = np.array([getattr(m.joint_data, name) for m in span])
                assert (block == block[0]).all(), name
            imu = np.array([[m.imu_data.gyro.x, m.imu_data.acc.z, m.imu_data.quat.w] for m in span])
            assert (imu == imu[0]).all()
            assert not np.array_equal(after.joint_data.joint_q, span[0].joint_data.joint_q)
            checked["message"] += 1
            continue
        field_of = {"position_rad": "joint_q", "velocity_rad_s": "joint_v"}
        for channel in f["channels"]:
            quantity, joint = channel.split(".", 1)
            name = field_of.get(quantity, row["effort_field"])
            col = order.index(joint)
            values = np.array([getattr(m.joint_data, name)[col] for m in span])
            assert (values == values[0]).all(), channel
            assert getattr(after.joint_data, name)[col] != values[0]
        col = order.index(f["channels"][0].split(".", 1)[1])
        q = np.array([m.joint_data.joint_q[col] for m in topic.msgs])
        before, later = q[max(idx[0] - 60, 0) : idx[0] - 10], q[idx[-1] + 10 : idx[-1] + 60]
        step = abs(np.mean(later) - np.mean(before)) / sigma_of[f["recording_id"]]
        if f["moving"]:
            checked["moving"] += 1
        else:  # a still joint: no more than noise between just before and just after
            assert step < 8.0
            checked["still"] += 1
    assert min(checked.values()) >= 1, checked


def test_at_stop_readings_cross_the_nominal_limit_in_the_bag(network: Path) -> None:
    rec = _intact(network).filter(pl.col("missing_stream").is_null())
    spans = _truth(network, "at_stop").filter(pl.col("recording_id").is_in(rec["recording_id"]))
    faults = _truth(network, "faults")
    sigma_of = dict(
        _truth(network, "noise").select("recording_id", "position_sigma_rad").iter_rows()
    )
    crossed = 0
    for s in spans.to_dicts():
        row = rec.filter(pl.col("recording_id") == s["recording_id"]).row(0, named=True)
        order = load_profile(row["center"]).streams["joint_state"].joint_order
        topic, idx = _joint_state_rows(network, row, s["start_ns"] + 5 * MS, s["end_ns"] - 5 * MS)
        t = topic.stamps_ns()[idx]
        for f in faults.filter(pl.col("recording_id") == s["recording_id"]).to_dicts():
            if f["stream"] == "joint_state":
                keep = (t < f["start_ns"] - 5 * MS) | (t >= f["end_ns"] + 5 * MS)
                idx, t = idx[keep], t[keep]
        if len(idx) < 100:
            continue
        joint = s["channel"].split(".", 1)[1]
        q = np.array([topic.msgs[i].joint_data.joint_q[order.index(joint)] for i in idx])
        lo, hi = (
            KUAVO.joints[KUAVO.joint_names.index(joint)].position_min_rad,
            KUAVO.joints[KUAVO.joint_names.index(joint)].position_max_rad,
        )
        assert s["limit_rad"] in (lo, hi) and s["stop_rad"] == s["limit_rad"]
        sign = 1.0 if s["limit_rad"] == hi else -1.0
        past = sign * (q - s["limit_rad"]) / sigma_of[s["recording_id"]]
        assert 0.25 < np.mean(past > 0) < 0.75 and past.max() < 6.0 and past.min() > -6.0
        assert 0.05 <= s["command_overdrive_rad"] <= 0.3
        crossed += 1
    assert crossed >= 3


def _stamped_on(
    topic: Topic, clock: OperatorClock | None, noise: dict[str, Any], stream: str
) -> bool:
    """Do the stamps sit one transport delay (the truth's bounds, plus 5 sigmas of stamp
    jitter) before the record times mapped to ``clock`` (None: the robot clock)?"""
    sigma_s = noise["vr_stamp_sigma_s" if stream == "head_pose" else "stream_100hz_stamp_sigma_s"]
    tol_ns = 5e9 * sigma_s
    mapped = topic.record_ns if clock is None else clock.to_operator(topic.record_ns)
    residual = topic.stamps_ns() - mapped
    return bool(
        residual.max() <= -noise["transport_delay_min_s"] * 1e9 + tol_ns
        and residual.min() >= -noise["transport_delay_max_s"] * 1e9 - tol_ns
    )


def test_a_mismatched_stream_is_stamped_on_the_other_clock(network: Path) -> None:
    clocks = _truth(network, "clocks")
    noise = _truth(network, "noise")
    far = 0
    for row in _rows(network, pl.col("clock_mismatch_stream").is_not_null()):
        rid, stream = row["recording_id"], row["clock_mismatch_stream"]
        mine = clocks.filter(pl.col("recording_id") == rid)
        c = mine.filter(pl.col("stream") == stream).row(0, named=True)
        assert c["clock"] == row["clock_mismatch_actual_clock"] != c["declared_clock"]
        assert c["declared_clock"] == DECLARED_CLOCKS[stream]
        others = mine.filter(pl.col("stream") != stream)
        assert (others["clock"] == others["declared_clock"]).all()
        op = others.filter(pl.col("clock") == "operator").row(0, named=True)
        operator = OperatorClock(op["offset_ns"], op["drift_ppm"], op["reference_ns"])
        profile = load_profile(row["center"]).for_end_effector(row["end_effector"])
        topic_name = (
            row["hand_state_topic"] if stream == "hand_state" else profile.streams[stream].topic
        )
        topic = _read(network, row["center"], rid, topic_name)
        n = noise.filter(pl.col("recording_id") == rid).row(0, named=True)
        actual, declared = (None, operator) if c["clock"] == "robot" else (operator, None)
        assert _stamped_on(topic, actual, n, stream), rid
        if abs(op["offset_ns"]) > 50 * MS:  # far enough apart to tell the clocks apart
            assert not _stamped_on(topic, declared, n, stream), rid
            far += 1
    assert far >= 1


def test_latency_and_levels_in_the_truth_stay_in_their_ranges(network: Path) -> None:
    rec = _truth(network, "recordings")
    assert rec["control_latency_ms"].is_between(15.0, 25.0).all()
    assert rec["control_latency_ms"].n_unique() == rec.height
    noise = _truth(network, "noise")
    assert noise["position_sigma_rad"].is_between(0.8e-4, 2.5e-3).all()
    assert noise["arm_target_rate_hz"].is_between(80.0, 120.0).all()
    assert noise["head_pose_rate_hz"].is_between(60.0, 120.0).all()
    # one rig: the same build and rates in every recording of a station
    per_station = rec.join(noise, on=["center", "recording_id"]).group_by("center", "station")
    agg = per_station.agg(
        pl.col("end_effector").n_unique(),
        pl.col("hand_state_topic").n_unique(),
        pl.col("effort_field").n_unique(),
        pl.col("arm_target_rate_hz").n_unique(),
    )
    assert (agg.select(pl.exclude("center", "station")) == 1).to_numpy().all()


def test_written_rates_follow_the_truth(network: Path) -> None:
    noise = _truth(network, "noise")
    for row in _intact(network).filter(pl.col("missing_stream").is_null()).to_dicts()[:3]:
        head = _read(network, row["center"], row["recording_id"], "/vr/head_pose")
        rate = noise.filter(pl.col("recording_id") == row["recording_id"])["head_pose_rate_hz"][0]
        stamps = head.stamps_ns()
        assert 1e9 / np.median(np.diff(np.sort(stamps))) == pytest.approx(rate, rel=0.02)


# --- other formats: no hand state, unpopulated fields ---------------------------------------


@pytest.mark.parametrize("center", ["jinan", "suzhou", "hefei"])
def test_other_formats_leave_out_the_hand_state_and_write_zeros(
    center: str, tmp_path: Path
) -> None:
    profile = load_profile(center)
    robot = load_robot_model(profile.robot_model)
    sim = simulation_profile("clean")
    rig = replace(
        nominal_rig(profile, sim.motion),
        end_effector_state_source=None,
        velocity_populated=False,
        effort_populated=False,
    )
    ep = simulate_episode(
        center, TASKS["fold_towel"], robot, sim, START_NS, 0.2, np.random.SeedSequence(1), rig=rig
    )
    assert "hand_state" not in ep.streams
    files = write_recording(tmp_path, "rec-0001", profile, robot, ep, 0.2, "SN")
    state = profile.streams["hand_state"].topic
    if center == "jinan":
        with AnyReader([tmp_path / "rec-0001"]) as reader:
            topics = {c.topic for c in reader.connections}
            assert state not in topics and profile.streams["hand_command"].topic in topics
            js = [c for c in reader.connections if c.topic == profile.streams["joint_state"].topic]
            msgs = [reader.deserialize(d, c.msgtype) for c, _, d in reader.messages(js)]
        assert all((m.velocity == 0.0).all() and (m.effort == 0.0).all() for m in msgs)
        assert any((m.position != 0.0).any() for m in msgs)
    elif center == "suzhou":
        with h5py.File(files[0], "r") as f:
            assert state not in f and profile.streams["hand_command"].topic in f
            group = f[profile.streams["joint_state"].topic]
            assert not np.asarray(group["joint_velocity"]).any()
            assert not np.asarray(group["joint_effort"]).any()
    else:
        names = {p.name for p in files}
        assert state not in names and profile.streams["hand_command"].topic in names
        js = pl.read_parquet(tmp_path / "rec-0001" / profile.streams["joint_state"].topic)
        assert (js["velocity_deg_s"] == 0.0).all() and (js["effort_nm"] == 0.0).all()


def test_label_files_name_the_rigs_end_effector(network: Path) -> None:
    for row in _truth(network, "recordings").to_dicts():
        station = row["recording_id"].split("-")[1]
        path = network / row["center"] / DATE / station / f"{row['recording_id']}.metadata.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc.get("eef_type") == row["eef_type"]
        expected = {"claw": {"leju_claw"}, "hand": {"qiangnao", "dexhand"}}[row["end_effector"]]
        assert row["eef_type"] is None or row["eef_type"] in expected
