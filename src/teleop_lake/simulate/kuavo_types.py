"""The Kuavo recorder's custom message definitions (kuavo_msgs) and a typestore holding them.

The ``.msg`` texts follow the field lists in formats/KUAVO.md. They are registered with
``rosbags.typesys.get_types_from_msg`` on top of the ROS 1 Noetic standard types, so a bag
written with this typestore embeds the full definitions in its connection records, as a
real recorder does.
"""

from __future__ import annotations

from functools import cache

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

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
}


def normalized_msgtype(ros1_name: str) -> str:
    """``pkg/Type`` (ROS 1 spelling, as in the center profiles) -> ``pkg/msg/Type``."""
    if "/msg/" in ros1_name:
        return ros1_name
    pkg, _, name = ros1_name.partition("/")
    return f"{pkg}/msg/{name}"


@cache
def kuavo_typestore() -> Typestore:
    """ROS 1 Noetic standard types plus the kuavo_msgs definitions above."""
    store = get_typestore(Stores.ROS1_NOETIC)
    types = {}
    for name, text in KUAVO_MSG_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
