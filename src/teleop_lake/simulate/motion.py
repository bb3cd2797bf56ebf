"""Continuous physics of one episode on a fine time grid: operator, robot arms, legs, hands, head.

The operator's exoskeleton produces minimum-jerk arm targets between random waypoints
(reach, grasp, move, place, retreat); the robot command follows them after the recording's
control latency; measured joints follow the command through a first-order lag, and joints
resting against a mechanical stop (`stops`) stay on it. Hands (or claws) close around the
grasp and stop short on an object. Everything here is noise-free and sampled on a uniform
grid (`MotionParams.physics_rate_hz`); `streams` samples it at the recorder's rates and
adds noise. Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from teleop_lake.config.robots import RobotModel
from teleop_lake.simulate.params import MotionParams
from teleop_lake.simulate.stops import (
    StopRest,
    clamp_at_stops,
    home_pose_rad,
    overlay_stop_rests,
)
from teleop_lake.simulate.story import Story

GRAVITY_M_S2 = 9.81
# Standing posture of the legs (rad): slightly bent knees, as the Kuavo stands when teleoperated.
STAND_POSE_RAD = {"leg_pitch": -0.3, "knee": 0.6, "foot_pitch": -0.3}
# Gravity-like torque amplitude per joint group (N*m): well inside the effort limits.
GRAVITY_TORQUE_NM = {"leg": 20.0, "waist": 8.0, "arm": 4.0, "head": 0.3}
# Head joints are driven by the VR headset's yaw and pitch: a head joint whose name ends in
# one of these follows that angle (a robot without head joints just has none).
HEAD_AXES = ("yaw", "pitch")
# Slow sway of the waist (rad) and the legs while the upper body works: the balance loop.
WAIST_SWAY_RAD = 0.01
LEG_SWAY_RAD = 0.01
VISCOUS_NM_PER_RAD_S = 0.3
# A joint held against its stop: the servo pushes with its position gain times how far its
# command-following position would be past the stop (the Kuavo arm's kp, as in /joint_cmd),
# saturating at this fraction of the joint's effort limit (the drive's current limit).
STOP_PUSH_NM_PER_RAD = 80.0
STOP_PUSH_MAX_EFFORT_FRACTION = 0.5


@dataclass(frozen=True, eq=False)
class Physics:
    """Noise-free signals of one episode on the uniform grid ``t_s`` (seconds from start).

    Joint arrays are (n, joints) in the robot model's canonical order; ``operator_arm_rad``
    is (n, arm joints) in ``robot.arm_joint_names`` order; hand arrays are closures in
    ``end_effector_joints`` order (the hands' or the claws'); ``hand_free_target`` is the
    closure the command drives them to when no object is in the way; quaternions are
    (x, y, z, w). ``control_latency_s`` is this recording's teleop-target -> command delay.
    """

    end_effector_joints: tuple[str, ...]
    control_latency_s: float
    t_s: np.ndarray
    operator_arm_rad: np.ndarray
    command_rad: np.ndarray
    command_velocity_rad_s: np.ndarray
    position_rad: np.ndarray
    velocity_rad_s: np.ndarray
    acceleration_rad_s2: np.ndarray
    effort_n_m: np.ndarray
    hand_command: np.ndarray
    hand_state: np.ndarray
    hand_free_target: np.ndarray
    head_position_m: np.ndarray
    head_quat_xyzw: np.ndarray
    imu_gyro_rad_s: np.ndarray
    imu_acc_m_s2: np.ndarray
    imu_quat_xyzw: np.ndarray


def min_jerk_path(t_s: np.ndarray, knots_s: np.ndarray, waypoints: np.ndarray) -> np.ndarray:
    """Piecewise minimum-jerk path through ``waypoints`` (m+1, c) at ``knots_s`` (m+1,)."""
    m = len(knots_s) - 1
    idx = np.clip(np.searchsorted(knots_s, t_s, side="right") - 1, 0, m - 1)
    span = knots_s[idx + 1] - knots_s[idx]
    tau = np.clip((t_s - knots_s[idx]) / span, 0.0, 1.0)
    s = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
    return waypoints[idx] + s[:, None] * (waypoints[idx + 1] - waypoints[idx])


def smooth_noise(
    t_s: np.ndarray,
    amplitude: float,
    band_hz: tuple[float, float],
    n_channels: int,
    rng: np.random.Generator,
    n_components: int = 4,
) -> np.ndarray:
    """A smooth random signal (n, n_channels): a sum of sinusoids of random phase in ``band_hz``."""
    freq = rng.uniform(*band_hz, size=(n_components, n_channels))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n_components, n_channels))
    out = np.zeros((len(t_s), n_channels))
    for k in range(n_components):
        out += np.sin(2.0 * np.pi * freq[k] * t_s[:, None] + phase[k])
    return out * (amplitude / np.sqrt(n_components / 2.0))


def first_order_lag(x: np.ndarray, dt_s: float, tau_s: float) -> np.ndarray:
    """First-order lag of ``x`` (n, c) along axis 0, starting at rest at ``x[0]``."""
    alpha = 1.0 - np.exp(-dt_s / tau_s)
    zi = ((1.0 - alpha) * x[0])[None, :]
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return np.asarray(y)


def _delayed(t_s: np.ndarray, x: np.ndarray, delay_s: float) -> np.ndarray:
    shifted = np.clip(t_s - delay_s, t_s[0], t_s[-1])
    return np.stack([np.interp(shifted, t_s, x[:, j]) for j in range(x.shape[1])], axis=1)


def _hold_after(t_s: np.ndarray, x: np.ndarray, t_stop_s: float) -> np.ndarray:
    """``x`` frozen at its value at ``t_stop_s`` from then on (an e-stop)."""
    i = int(np.searchsorted(t_s, t_stop_s))
    if i >= len(t_s):
        return x
    out = x.copy()
    out[i:] = x[max(i - 1, 0)]
    return out


def _arm_waypoints(
    robot: RobotModel, story: Story, params: MotionParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Knot times and arm waypoints (every arm joint) for the task's phases."""
    arm = [robot.joints[robot.joint_names.index(n)] for n in robot.arm_joint_names]
    lo = np.array([j.position_min_rad for j in arm])
    hi = np.array([j.position_max_rad for j in arm])
    v_max = np.array([j.velocity_max_rad_s for j in arm]) * params.velocity_limit_fraction
    centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0 * params.waypoint_range_fraction
    home = home_pose_rad(lo, hi)
    grasp_hand = story.task.grasp_hand
    active = np.array(
        [
            grasp_hand == "both" or name.startswith(grasp_hand[0] + "_")
            for name in robot.arm_joint_names
        ]
    )
    reach_gain = np.where(active, 1.0, 0.15)

    def pose() -> np.ndarray:
        target = centre + rng.uniform(-1.0, 1.0, size=len(arm)) * half
        return home + reach_gain * (target - home)

    tl = story.timeline
    pre_grasp = pose()
    grasp = np.clip(pre_grasp + rng.normal(0.0, 0.05, size=len(arm)) * reach_gain, lo, hi)
    lift = pose()
    place = pose()
    knots = [0.0, tl.reach_start_s]
    points = [home, home]
    if story.failure_reason == "timeout":
        # A hesitant operator: two detours before the real reach.
        for frac in (0.35, 0.65):
            knots.append(tl.reach_start_s + frac * (tl.grasp_start_s - tl.reach_start_s))
            points.append(pose())
    mid_hold = 0.5 * (tl.grasp_closed_s + tl.release_s)
    knots += [tl.grasp_start_s, tl.grasp_closed_s, mid_hold, tl.release_s, tl.retreat_start_s]
    points += [pre_grasp, grasp, lift, place, place]
    knots += [tl.retreat_end_s, max(tl.duration_s, tl.retreat_end_s) + 1.0]
    points += [home, home]
    knots_s, way = np.asarray(knots), np.asarray(points)
    # Shrink every move that would be faster than the velocity budget (peak 1.875 * d / T).
    for k in range(1, len(way)):
        span = knots_s[k] - knots_s[k - 1]
        step = way[k] - way[k - 1]
        peak = 1.875 * np.abs(step) / span
        scale = np.minimum(1.0, v_max / np.maximum(peak, 1e-12))
        way[k] = way[k - 1] + step * scale
    return knots_s, way


def _hand_command(
    t_s: np.ndarray, story: Story, params: MotionParams, rng: np.random.Generator
) -> tuple[np.ndarray, float | None]:
    """Closure command 0..1 of the grasping hand over time, and when the object left the hand."""
    tl = story.timeline
    closed = rng.uniform(*params.grasp_command)
    opened = params.open_closure
    open_at = tl.release_s
    # The object stays between the fingers until the hand has opened again (a release
    # only lowers the command below the contact closure), unless it is dropped.
    contact_end: float | None = np.inf
    if story.failure_reason == "grasp_missed":
        open_at = tl.miss_open_s if tl.miss_open_s is not None else tl.release_s
        contact_end = None
    elif story.failure_reason == "object_dropped" and tl.drop_s is not None:
        contact_end = tl.drop_s
        # Either the object slips and the fingers snap shut, or the operator opens at once.
        open_at = tl.drop_s + (rng.uniform(0.3, 0.6) if rng.random() < 0.7 else 0.0)
    elif story.failure_reason == "task_incomplete":
        open_at = tl.duration_s + 10.0
    knots = np.array([0.0, tl.grasp_start_s, tl.grasp_closed_s, open_at, open_at + 0.4, 1e9])
    values = np.array([opened, opened, closed, closed, opened, opened])[:, None]
    cmd = min_jerk_path(t_s, knots, values)[:, 0]
    return cmd, contact_end


def simulate_physics(
    robot: RobotModel,
    story: Story,
    params: MotionParams,
    rng: np.random.Generator,
    *,
    control_latency_ms: float | None = None,
    end_effector: str = "hand",
    stop_rests: tuple[StopRest, ...] = (),
) -> Physics:
    """All noise-free signals of the episode told by ``story`` on the physics grid.

    ``control_latency_ms`` defaults to the robot model's nominal latency; ``end_effector``
    (``hand`` or ``claw``) picks the closure joints; ``stop_rests`` are the joints driven
    against a mechanical stop.
    """
    dt_s = 1.0 / params.physics_rate_hz
    duration_s = story.timeline.duration_s
    t_s = np.arange(0.0, duration_s + 0.05, dt_s)
    n, names = len(t_s), robot.joint_names
    if control_latency_ms is None:
        control_latency_ms = robot.control_latency_ms
    latency_s = control_latency_ms / 1000.0
    stop_s = story.timeline.motion_end_s

    knots, way = _arm_waypoints(robot, story, params, rng)
    op_arm = min_jerk_path(t_s, knots, way)
    op_arm = overlay_stop_rests(t_s, op_arm, robot.arm_joint_names, stop_rests, robot)
    op_arm = _hold_after(t_s, op_arm, stop_s)
    op_arm = op_arm + smooth_noise(t_s, params.tremor_rad, (3.0, 8.0), op_arm.shape[1], rng)

    # VR head: looks down at the table and towards the working hand, slowly.
    side = {"left": 1.0, "right": -1.0, "both": 0.0}[story.task.grasp_hand]
    look = min_jerk_path(
        t_s,
        np.array([0.0, story.timeline.reach_start_s, story.timeline.grasp_start_s, 1e9]),
        np.array([[0.0], [0.0], [0.2 * side], [0.2 * side]]),
    )[:, 0]
    head_yaw = _hold_after(
        t_s, (look + smooth_noise(t_s, 0.08, (0.05, 0.3), 1, rng)[:, 0])[:, None], stop_s
    )[:, 0]
    head_pitch = -0.3 + smooth_noise(t_s, 0.04, (0.05, 0.3), 1, rng)[:, 0]
    cy, sy = np.cos(head_yaw / 2.0), np.sin(head_yaw / 2.0)
    cp, sp = np.cos(head_pitch / 2.0), np.sin(head_pitch / 2.0)
    head_quat = np.stack([-sy * sp, cy * sp, sy * cp, cy * cp], axis=1)
    head_pos = np.array([0.0, 0.0, 1.55]) + smooth_noise(t_s, 0.015, (0.05, 0.4), 3, rng)

    command = np.zeros((n, len(names)))
    for i, joint in enumerate(robot.joints):
        key = joint.name[2:] if joint.name[:2] in ("l_", "r_") else joint.name
        command[:, i] = STAND_POSE_RAD.get(key, 0.0)
    for group, sway_rad in (("leg", LEG_SWAY_RAD), ("waist", WAIST_SWAY_RAD)):
        idx = [i for i, j in enumerate(robot.joints) if j.group == group]
        if idx:
            command[:, idx] += _hold_after(
                t_s, smooth_noise(t_s, sway_rad, (0.1, 0.4), len(idx), rng), stop_s
            )
    arm_idx = [names.index(a) for a in robot.arm_joint_names]
    command[:, arm_idx] = _delayed(t_s, op_arm, latency_s)
    angle = {"yaw": head_yaw, "pitch": -head_pitch}
    head_axes = [
        (names.index(j), axis)
        for j in robot.joints_in_group("head")
        for axis in HEAD_AXES
        if j.endswith(axis)
    ]
    if head_axes:
        head = np.stack([angle[axis] for _, axis in head_axes], axis=1)
        command[:, [i for i, _ in head_axes]] = _delayed(t_s, head, latency_s)
    command = _hold_after(t_s, command, stop_s + latency_s)
    command_velocity = np.asarray(np.gradient(command, dt_s, axis=0))

    position, pushed_rad = clamp_at_stops(
        first_order_lag(command, dt_s, params.arm_lag_tau_s), robot, stop_rests
    )
    velocity = np.asarray(np.gradient(position, dt_s, axis=0))
    acceleration = np.asarray(np.gradient(velocity, dt_s, axis=0))
    unknown = sorted({j.group for j in robot.joints} - set(GRAVITY_TORQUE_NM))
    if unknown:
        raise ValueError(
            f"robot model {robot.name!r}: no gravity torque for joint groups {unknown}; "
            "add them to GRAVITY_TORQUE_NM"
        )
    gravity = np.array([GRAVITY_TORQUE_NM[j.group] for j in robot.joints])
    phase = rng.uniform(-0.5, 0.5, size=len(names))
    push_max = STOP_PUSH_MAX_EFFORT_FRACTION * np.array([j.effort_max_nm for j in robot.joints])
    effort = (
        gravity * np.sin(position + phase)
        + VISCOUS_NM_PER_RAD_S * velocity
        + np.clip(STOP_PUSH_NM_PER_RAD * pushed_rad, -push_max, push_max)
    )

    cmd_grasp, contact_end = _hand_command(t_s, story, params, rng)
    hand_names = robot.end_effector_joints(end_effector)
    grasping = np.array(
        [
            story.task.grasp_hand == "both" or h.startswith(story.task.grasp_hand[0] + "_")
            for h in hand_names
        ]
    )
    finger_gain = rng.uniform(0.97, 1.03, size=len(hand_names))
    rest = params.open_closure + smooth_noise(t_s, 0.005, (0.1, 0.5), len(hand_names), rng)
    hand_cmd = np.where(grasping, cmd_grasp[:, None] * finger_gain, rest)
    hand_cmd = np.clip(_hold_after(t_s, hand_cmd, stop_s), 0.0, 1.0)
    target = np.clip(_delayed(t_s, hand_cmd, latency_s) * params.free_closure_gain, 0.0, 1.0)
    free_target = target
    if story.grasp_holds_object:
        contact = rng.uniform(*params.contact_closure) * finger_gain
        in_hand = (t_s >= story.timeline.grasp_start_s) & (
            t_s < (contact_end if contact_end is not None else -1.0)
        )
        limited = np.minimum(target, contact[None, :])
        target = np.where(in_hand[:, None] & grasping[None, :], limited, target)
    hand_state = np.clip(first_order_lag(target, dt_s, params.hand_lag_tau_s), 0.0, 1.0)

    sway = smooth_noise(t_s, 0.004, (0.1, 0.4), 2, rng)
    imu_gyro = np.column_stack([np.asarray(np.gradient(sway, dt_s, axis=0)), np.zeros(n)])
    roll, pitch = sway[:, 0], sway[:, 1]
    imu_acc = np.column_stack(
        [
            -GRAVITY_M_S2 * np.sin(pitch),
            GRAVITY_M_S2 * np.sin(roll),
            GRAVITY_M_S2 * np.cos(roll) * np.cos(pitch),
        ]
    )
    cr, sr, cq, sq = np.cos(roll / 2), np.sin(roll / 2), np.cos(pitch / 2), np.sin(pitch / 2)
    imu_quat = np.column_stack([sr * cq, cr * sq, -sr * sq, cr * cq])

    return Physics(
        end_effector_joints=hand_names,
        control_latency_s=latency_s,
        t_s=t_s,
        operator_arm_rad=op_arm,
        command_rad=command,
        command_velocity_rad_s=command_velocity,
        position_rad=position,
        velocity_rad_s=velocity,
        acceleration_rad_s2=acceleration,
        effort_n_m=effort,
        hand_command=hand_cmd,
        hand_state=hand_state,
        hand_free_target=free_target,
        head_position_m=head_pos,
        head_quat_xyzw=head_quat,
        imu_gyro_rad_s=imu_gyro,
        imu_acc_m_s2=imu_acc,
        imu_quat_xyzw=imu_quat,
    )
