"""The Kuavo recorder's custom message definitions (kuavo_msgs) and a typestore holding them.

The ``.msg`` texts follow the field lists in formats/KUAVO.md, the Leju claw's messages
included. They are registered with ``rosbags.typesys.get_types_from_msg`` on top of the
ROS 1 Noetic standard types, so a bag written with this typestore embeds the full
definitions in its connection records, as a real recorder does. Some robots name
jointData's fourth field ``joint_current`` instead of ``joint_torque``: one typestore per
name (`kuavo_typestore`).
"""

from __future__ import annotations

from functools import cache

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

JOINT_DATA_EFFORT_FIELDS = ("joint_torque", "joint_current")
KUAVO_MSG_DEFINITIONS: dict[str, str] = {
    "kuavo_msgs/msg/jointData": (
        "float64[] joint_q\nfloat64[] joint_v\nfloat64[] joint_vd\nfloat64[] joint_torque\n"
    ),
    "kuavo_msgs/msg/imuData": (
        "geometry_msgs/Vector3 gyro\n"
        "geometry_msgs/Vector3 acc\n"
        "geometry_msgs/Vector3 free_acc\n"
        "geometry_msgs/Quaternion quat\n"
    ),
    "kuavo_msgs/msg/endEffectorData": (
        "string[] name\nfloat64[] position\nfloat64[] velocity\nfloat64[] effort\n"
    ),
    "kuavo_msgs/msg/sensorsData": (
        "std_msgs/Header header\n"
        "time sensor_time\n"
        "kuavo_msgs/jointData joint_data\n"
        "kuavo_msgs/imuData imu_data\n"
        "kuavo_msgs/endEffectorData end_effector_data\n"
    ),
    "kuavo_msgs/msg/jointCmd": (
        "std_msgs/Header header\n"
        "float64[] joint_q\n"
        "float64[] joint_v\n"
        "float64[] tau\n"
        "float64[] tau_max\n"
        "float64[] tau_ratio\n"
        "float64[] joint_kp\n"
        "float64[] joint_kd\n"
        "int32[] control_modes\n"
    ),
    "kuavo_msgs/msg/robotHandPosition": (
        "std_msgs/Header header\nuint8[] left_hand_position\nuint8[] right_hand_position\n"
    ),
    # The Leju claw: positions 0 = open .. 100 = closed per claw (left, right); the state's
    # int8 codes are -1 error, 0 unknown, 1 moving, 2 reached, 3 grabbed.
    "kuavo_msgs/msg/lejuClawCommand": ("std_msgs/Header header\nkuavo_msgs/endEffectorData data\n"),
    "kuavo_msgs/msg/lejuClawState": (
        "std_msgs/Header header\nint8[] state\nkuavo_msgs/endEffectorData data\n"
    ),
}
CLAW_STATE_MSGTYPE = "kuavo_msgs/msg/lejuClawState"
LEJU_CLAW_STATE_TOP = (
    "std_msgs/Header header\n"
    "\n"
    "int8 kError = -1                \n"
    "int8 kUnknown = 0              \n"
    "int8 kMoving = 1              \n"
    "int8 kReached = 2            \n"
    "int8 kGrabbed = 3         \n"
    "\n"
    "int8[] state # 0:; left; 1: right\n"
    "kuavo_msgs/endEffectorData data\n"
)
"""Leju's own lejuClawState.msg text (kuavo-ros-opensource), as a real recorder embeds it: its
state codes as lower-case constants. Constants occupy no bytes, so the type registered above
serialises identically; the connection record carries this text and its md5."""
LEJU_CLAW_STATE_MD5 = "71c0eb8f4803a00f5667de51a2f70aac"
"""The md5sum Leju's generated kuavo_msgs code publishes for that definition."""


def connection_definition(store: Typestore, msgtype: str) -> tuple[str, str]:
    """(embedded definition, md5sum) of ``msgtype`` for a bag's connection record: what the
    type store generates, except the claw state, which carries Leju's own text."""
    text, md5 = store.generate_msgdef(msgtype)
    if msgtype != CLAW_STATE_MSGTYPE:
        return text, md5
    separator = "\n" + "=" * 80 + "\n"
    _, _, dependencies = text.partition(separator)
    return LEJU_CLAW_STATE_TOP + separator + dependencies, LEJU_CLAW_STATE_MD5


def normalized_msgtype(ros1_name: str) -> str:
    """``pkg/Type`` (ROS 1 spelling, as in the center profiles) -> ``pkg/msg/Type``."""
    if "/msg/" in ros1_name:
        return ros1_name
    pkg, _, name = ros1_name.partition("/")
    return f"{pkg}/msg/{name}"


@cache
def kuavo_typestore(effort_field: str = "joint_torque") -> Typestore:
    """ROS 1 Noetic standard types plus the kuavo_msgs definitions above, jointData's fourth
    field named ``effort_field`` (one of `JOINT_DATA_EFFORT_FIELDS`)."""
    if effort_field not in JOINT_DATA_EFFORT_FIELDS:
        raise ValueError(
            f"jointData's effort field is one of {JOINT_DATA_EFFORT_FIELDS}, not {effort_field!r}"
        )
    store = get_typestore(Stores.ROS1_NOETIC)
    types = {}
    for name, text in KUAVO_MSG_DEFINITIONS.items():
        if name == "kuavo_msgs/msg/jointData":
            text = text.replace("joint_torque", effort_field)
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
