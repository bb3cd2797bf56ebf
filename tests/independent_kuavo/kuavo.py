"""The Kuavo recorder's topics, message definitions and message builders, camera JPEGs, label files.

Everything follows KUAVO.md (topics, message fields in order, label files); what it leaves open
is filled the way a ROS 1 robot does it:

- standard types (``std_msgs/Header``, ``geometry_msgs/Vector3`` and ``Quaternion``,
  ``sensor_msgs/JointState`` and ``CompressedImage``) carry their usual ``.msg`` text with
  comments; the Kuavo types are written from KUAVO.md's field lists. ``type_names`` picks how a
  rig's firmware spells field types: ``"qualified"`` (``std_msgs/Header``,
  ``kuavo_msgs/jointData``, as KUAVO.md lists them) or ``"relative"`` (``Header``,
  ``jointData``: the package-relative spelling of most ``.msg`` files). The md5sum is the same;
  readers must resolve both.
- ``kuavo_msgs/jointData``'s fourth field is ``joint_torque`` or, on some robots,
  ``joint_current`` (``effort_field``): a different definition and md5sum under the same name.
- ``kuavo_msgs/lejuClawState`` declares its state codes as int8 constants (-1 error, 0 unknown,
  1 moving, 2 reached, 3 grabbed).

Builders return plain dicts (nested for nested messages) that `ros1_msg.MessageRegistry`
serialises. Times are integer nanoseconds on the robot (UTC epoch) or operator clock.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import numpy as np
from PIL import Image

from .ros1_msg import MessageRegistry

TypeNames = Literal["qualified", "relative"]
EffortField = Literal["joint_torque", "joint_current"]

# Topics (KUAVO.md).
TOPIC_SENSORS = "/sensors_data_raw"
TOPIC_JOINT_CMD = "/joint_cmd"
TOPIC_ARM_TRAJ = "/kuavo_arm_traj"
TOPIC_HAND_COMMAND = "/control_robot_hand_position"
TOPIC_HAND_STATE_NEW = "/control_robot_hand_position_state"
TOPIC_HAND_STATE_OLD = "/dexhand/state"
TOPIC_CLAW_STATE = "/leju_claw_state"
TOPIC_CLAW_COMMAND = "/leju_claw_command"
TOPIC_CAMERA_HEAD = "/cam_h/color/image_raw/compressed"
TOPIC_CAMERA_LEFT = "/cam_l/color/image_raw/compressed"
TOPIC_CAMERA_RIGHT = "/cam_r/color/image_raw/compressed"

TYPE_SENSORS = "kuavo_msgs/sensorsData"
TYPE_JOINT_CMD = "kuavo_msgs/jointCmd"
TYPE_HAND_POSITION = "kuavo_msgs/robotHandPosition"
TYPE_CLAW_STATE = "kuavo_msgs/lejuClawState"
TYPE_CLAW_COMMAND = "kuavo_msgs/lejuClawCommand"
TYPE_JOINT_STATE = "sensor_msgs/JointState"
TYPE_COMPRESSED_IMAGE = "sensor_msgs/CompressedImage"

N_BODY_JOINTS = 28
N_LEG_JOINTS = 12
ARM_SLICE = slice(12, 26)  # 14 arm joints, left 7 then right 7
N_ARM_JOINTS = 14
N_HAND_FINGERS = 6  # per hand
HAND_FULL_SCALE = 100  # 0 = open .. 100 = fist
CLAW_FULL_SCALE = 100.0  # 0 = open .. 100 = closed

# sensor_msgs/JointState names the teleop station and the older hand firmware publish.
ARM_TRAJ_NAMES = tuple(f"arm_joint_{i}" for i in range(1, N_ARM_JOINTS + 1))
DEXHAND_NAMES = tuple(
    f"{side}_{finger}"
    for side in ("left", "right")
    for finger in ("thumb_yaw", "thumb_pitch", "index", "middle", "ring", "little")
)
CLAW_NAMES = ("left_claw", "right_claw")

# lejuClawState state codes (KUAVO.md).
CLAW_ERROR, CLAW_UNKNOWN, CLAW_MOVING, CLAW_REACHED, CLAW_GRABBED = -1, 0, 1, 2, 3

CAMERA_FRAME_IDS = {
    TOPIC_CAMERA_HEAD: "cam_h_color_optical_frame",
    TOPIC_CAMERA_LEFT: "cam_l_color_optical_frame",
    TOPIC_CAMERA_RIGHT: "cam_r_color_optical_frame",
}
JPEG_QUALITY = 85
BEIJING_TZ = timezone(timedelta(hours=8))

# --- message definitions --------------------------------------------------------------------

_HEADER_MSG = """\
# Standard metadata for higher-level stamped data types.
# This is generally used to communicate timestamped data
# in a particular coordinate frame.
#
# sequence ID: consecutively increasing ID
uint32 seq
#Two-integer timestamp that is expressed as:
# * stamp.sec: seconds (stamp_secs) since epoch (in Python the variable is called 'secs')
# * stamp.nsec: nanoseconds since stamp_secs (in Python the variable is called 'nsecs')
# time-handling sugar is provided by the client library
time stamp
#Frame this data is associated with
string frame_id
"""

_VECTOR3_MSG = """\
# This represents a vector in free space.
# It is only meant to represent a direction. Therefore, it does not
# make sense to apply a translation to it (e.g., when applying a
# generic rigid transformation to a Vector3, tf2 will only apply the
# rotation). If you want your data to be translatable too, use the
# geometry_msgs/Point message instead.

float64 x
float64 y
float64 z
"""

_QUATERNION_MSG = """\
# This represents an orientation in free space in quaternion form.

float64 x
float64 y
float64 z
float64 w
"""

_JOINT_STATE_MSG = """\
# This is a message that holds data to describe the state of a set of torque controlled joints.
#
# The state of each joint (revolute or prismatic) is defined by:
#  * the position of the joint (rad or m),
#  * the velocity of the joint (rad/s or m/s) and
#  * the effort that is applied in the joint (Nm or N).
#
# Each joint is uniquely identified by its name
# The header specifies the time at which the joint states were recorded. All the joint states
# in one message have to be recorded at the same time.
#
# This message consists of a multiple arrays, one for each part of the joint state.
# The goal is to make each of the fields optional. When e.g. your joints have no
# effort associated with them, you can leave the effort array empty.
#
# All arrays in this message should have the same size, or be empty.
# This is the only way to uniquely associate the joint name with the correct
# states.


Header header

string[] name
float64[] position
float64[] velocity
float64[] effort
"""

_COMPRESSED_IMAGE_MSG = """\
# This message contains a compressed image

Header header        # Header timestamp should be acquisition time of image
                     # Header frame_id should be optical frame of camera
                     # origin of frame should be optical center of camera
                     # +x should point to the right in the image
                     # +y should point down in the image
                     # +z should point into to plane of the image

string format        # Specifies the format of the data
                     #   Acceptable values:
                     #     jpeg, png
uint8[] data         # Compressed image buffer
"""


def message_texts(type_names: TypeNames, effort_field: EffortField) -> dict[str, str]:
    """The ``.msg`` texts of every type the Kuavo topics use, as one rig's firmware has them."""
    header = "std_msgs/Header" if type_names == "qualified" else "Header"

    def kuavo(name: str) -> str:
        return f"kuavo_msgs/{name}" if type_names == "qualified" else name

    return {
        "std_msgs/Header": _HEADER_MSG,
        "geometry_msgs/Vector3": _VECTOR3_MSG,
        "geometry_msgs/Quaternion": _QUATERNION_MSG,
        TYPE_JOINT_STATE: _JOINT_STATE_MSG,
        TYPE_COMPRESSED_IMAGE: _COMPRESSED_IMAGE_MSG,
        TYPE_SENSORS: (
            f"{header} header\n"
            "time sensor_time          # robot clock: when the hardware read the joints\n"
            f"{kuavo('jointData')} joint_data\n"
            f"{kuavo('imuData')} imu_data\n"
            f"{kuavo('endEffectorData')} end_effector_data\n"
        ),
        "kuavo_msgs/jointData": (
            "# 28 joints: 12 leg, 14 arm, 2 head\n"
            "float64[] joint_q         # rad\n"
            "float64[] joint_v         # rad/s\n"
            "float64[] joint_vd        # rad/s^2\n"
            f"float64[] {effort_field}\n"
        ),
        "kuavo_msgs/imuData": (
            "geometry_msgs/Vector3 gyro       # rad/s\n"
            "geometry_msgs/Vector3 acc        # m/s^2, gravity included\n"
            "geometry_msgs/Vector3 free_acc   # m/s^2, gravity removed\n"
            "geometry_msgs/Quaternion quat\n"
        ),
        "kuavo_msgs/endEffectorData": (
            "string[] name\nfloat64[] position\nfloat64[] velocity\nfloat64[] effort\n"
        ),
        TYPE_JOINT_CMD: (
            f"{header} header\n"
            "float64[] joint_q\n"
            "float64[] joint_v\n"
            "float64[] tau\n"
            "float64[] tau_max\n"
            "float64[] tau_ratio\n"
            "float64[] joint_kp\n"
            "float64[] joint_kd\n"
            "int32[] control_modes\n"
        ),
        TYPE_HAND_POSITION: (
            f"{header} header\n"
            "uint8[] left_hand_position   # 0 = open .. 100 = fist, one per finger\n"
            "uint8[] right_hand_position\n"
        ),
        # As Leju's own lejuClawState.msg: lower-case constant names after the header (legal
        # ROS, and a parser that wants upper-case constants reads them as fields).
        TYPE_CLAW_STATE: (
            f"{header} header\n"
            "\n"
            "int8 kError = -1                \n"
            "int8 kUnknown = 0              \n"
            "int8 kMoving = 1              \n"
            "int8 kReached = 2            \n"
            "int8 kGrabbed = 3         \n"
            "\n"
            "int8[] state # 0:; left; 1: right\n"
            f"{kuavo('endEffectorData')} data   # position 0 = open .. 100 = closed\n"
        ),
        TYPE_CLAW_COMMAND: (
            f"{header} header\n"
            f"{kuavo('endEffectorData')} data   # position 0 = open .. 100 = closed\n"
        ),
    }


def registry_for(type_names: TypeNames, effort_field: EffortField) -> MessageRegistry:
    return MessageRegistry(message_texts(type_names, effort_field))


# --- message builders -----------------------------------------------------------------------


def header(seq: int, stamp_ns: int, frame_id: str = "") -> dict[str, Any]:
    return {"seq": seq, "stamp": stamp_ns, "frame_id": frame_id}


def _vec(v: np.ndarray) -> dict[str, float]:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


EMPTY_END_EFFECTOR: dict[str, Any] = {"name": [], "position": [], "velocity": [], "effort": []}


def sensors_data(
    seq: int,
    stamp_ns: int,
    sensor_time_ns: int,
    q: np.ndarray,
    v: np.ndarray,
    vd: np.ndarray,
    effort: np.ndarray,
    imu: dict[str, np.ndarray],
    effort_field: EffortField,
) -> dict[str, Any]:
    """One /sensors_data_raw message (28 joints; effort under the rig's field name)."""
    return {
        "header": header(seq, stamp_ns),
        "sensor_time": sensor_time_ns,
        "joint_data": {"joint_q": q, "joint_v": v, "joint_vd": vd, effort_field: effort},
        "imu_data": {
            "gyro": _vec(imu["gyro"]),
            "acc": _vec(imu["acc"]),
            "free_acc": _vec(imu["free_acc"]),
            "quat": {
                "x": float(imu["quat"][0]),
                "y": float(imu["quat"][1]),
                "z": float(imu["quat"][2]),
                "w": float(imu["quat"][3]),
            },
        },
        "end_effector_data": EMPTY_END_EFFECTOR,
    }


def joint_cmd(
    seq: int,
    stamp_ns: int,
    q: np.ndarray,
    v: np.ndarray,
    tau: np.ndarray,
    tau_max: np.ndarray,
    kp: np.ndarray,
    kd: np.ndarray,
    control_modes: np.ndarray,
) -> dict[str, Any]:
    return {
        "header": header(seq, stamp_ns),
        "joint_q": q,
        "joint_v": v,
        "tau": tau,
        "tau_max": tau_max,
        "tau_ratio": np.ones(len(q)),
        "joint_kp": kp,
        "joint_kd": kd,
        "control_modes": control_modes,
    }


def joint_state(
    seq: int,
    stamp_ns: int,
    names: tuple[str, ...],
    position: np.ndarray,
    velocity: np.ndarray | None = None,
    effort: np.ndarray | None = None,
) -> dict[str, Any]:
    return {
        "header": header(seq, stamp_ns),
        "name": list(names),
        "position": position,
        "velocity": velocity if velocity is not None else [],
        "effort": effort if effort is not None else [],
    }


def hand_position(seq: int, stamp_ns: int, left: np.ndarray, right: np.ndarray) -> dict[str, Any]:
    """kuavo_msgs/robotHandPosition: six uint8 values per hand, 0 = open .. 100 = fist."""
    return {
        "header": header(seq, stamp_ns),
        "left_hand_position": np.asarray(left, dtype=np.uint8),
        "right_hand_position": np.asarray(right, dtype=np.uint8),
    }


def end_effector(position: np.ndarray, velocity: np.ndarray, effort: np.ndarray) -> dict[str, Any]:
    return {"name": list(CLAW_NAMES), "position": position, "velocity": velocity, "effort": effort}


def claw_state(seq: int, stamp_ns: int, state: np.ndarray, data: dict[str, Any]) -> dict[str, Any]:
    return {"header": header(seq, stamp_ns), "state": np.asarray(state, np.int8), "data": data}


def claw_command(seq: int, stamp_ns: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"header": header(seq, stamp_ns), "data": data}


def compressed_image(seq: int, stamp_ns: int, frame_id: str, jpeg: bytes) -> dict[str, Any]:
    return {"header": header(seq, stamp_ns, frame_id), "format": "jpeg", "data": jpeg}


# --- camera frames --------------------------------------------------------------------------


@dataclass
class CameraRenderer:
    """Small synthetic scenes as real JPEGs: a table, the object, the hands seen by a camera.

    The head camera sees both hands move with the arm joints; a wrist camera's view shifts
    with its own arm. Each frame carries a little sensor noise, so no two frames are equal.
    """

    width: int
    height: int
    seed: int

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        yy, xx = np.mgrid[0 : self.height, 0 : self.width]
        self._yy = yy
        self._xx = xx
        table = np.stack(
            [
                90 + 60 * yy / max(self.height - 1, 1),
                70 + 40 * yy / max(self.height - 1, 1),
                50 + 20 * xx / max(self.width - 1, 1),
            ],
            axis=-1,
        )
        self._background = table.astype(np.float32)
        self._noise = rng.normal(0.0, 3.0, size=(4, self.height, self.width, 1)).astype(np.float32)

    def _blob(self, img: np.ndarray, cx: float, cy: float, r: float, color: tuple) -> None:
        mask = (self._xx - cx) ** 2 + (self._yy - cy) ** 2 <= r * r
        img[mask] = color

    def render(self, topic: str, frame_index: int, arm_q: np.ndarray, closure: float) -> bytes:
        """One JPEG; ``arm_q`` the 14 arm joints (rad), ``closure`` the grasp closure 0..1."""
        w, h = self.width, self.height
        img = self._background.copy()
        obj_x, obj_y = 0.5 * w, 0.62 * h
        if topic == TOPIC_CAMERA_HEAD:
            shift_x, shift_y = 0.0, 0.0
        else:
            side = 0 if topic == TOPIC_CAMERA_LEFT else 7
            shift_x = 0.25 * w * np.sin(arm_q[side + 2] + arm_q[side + 4])
            shift_y = 0.25 * h * np.sin(arm_q[side] + arm_q[side + 3])
            img += 15.0 * np.sin(arm_q[side + 6])
        x0 = int(np.clip(obj_x + shift_x - 0.08 * w, 0, w - 1))
        x1 = int(np.clip(obj_x + shift_x + 0.08 * w, x0 + 1, w))
        y0 = int(np.clip(obj_y + shift_y - 0.06 * h, 0, h - 1))
        y1 = int(np.clip(obj_y + shift_y + 0.06 * h, y0 + 1, h))
        img[y0:y1, x0:x1] = (200.0, 40.0, 40.0)
        radius = max(1.5, 0.05 * min(w, h) * (1.0 - 0.5 * closure))
        for side, color in ((0, (230.0, 220.0, 200.0)), (7, (200.0, 220.0, 230.0))):
            hx = 0.5 * w + (0.3 if side else -0.3) * w * np.cos(arm_q[side + 1]) + shift_x
            hy = 0.9 * h + 0.35 * h * np.sin(arm_q[side]) + 0.1 * h * np.sin(arm_q[side + 3])
            self._blob(img, hx, hy, radius, color)
        img += self._noise[frame_index % len(self._noise)]
        img[: max(1, h // 40), : (frame_index * 7) % max(w, 1)] = 255.0
        out = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(
            out, format="JPEG", quality=JPEG_QUALITY
        )
        return out.getvalue()


# --- label files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskLabels:
    """Scene, sub-scene and task-group codes and names of one catalog task."""

    scene_code: str
    scene_name: str
    scene_name_en: str
    sub_scene_code: str
    sub_scene_name: str
    sub_scene_name_en: str
    task_group_code: str
    task_group_name: str
    task_name: str  # Chinese
    object_zh: str
    object_en: str


TASK_LABELS: dict[str, TaskLabels] = {
    "open_microwave_door": TaskLabels(
        "household", "家居", "Household", "kitchen", "厨房", "Kitchen",
        "appliance_operation", "家电操作", "打开微波炉门", "微波炉门", "microwave door",
    ),
    "pack_parcel": TaskLabels(
        "logistics", "物流", "Logistics", "packing_station", "打包台", "Packing station",
        "parcel_packing", "包裹打包", "将物品放入包裹箱", "物品", "item",
    ),
    "separate_coil": TaskLabels(
        "industrial", "工业", "Industrial", "workshop", "车间", "Workshop",
        "material_sorting", "物料分拣", "从线堆中分离线圈", "线圈", "wire coil",
    ),
    "fold_towel": TaskLabels(
        "household", "家居", "Household", "laundry_room", "洗衣房", "Laundry room",
        "clothing_care", "衣物整理", "把毛巾对折", "毛巾", "towel",
    ),
    "hand_over_cup": TaskLabels(
        "household", "家居", "Household", "dining_room", "餐厅", "Dining room",
        "tableware_handling", "餐具取放", "双手传递杯子", "杯子", "cup",
    ),
}  # fmt: skip


def task_labels(task_code: str) -> TaskLabels:
    """Label names of a task; a catalog task without an entry here gets generic names."""
    return TASK_LABELS.get(
        task_code,
        TaskLabels(
            "general",
            "通用",
            "General",
            "workbench",
            "工作台",
            "Workbench",
            "manipulation",
            "操作",
            task_code,
            "物体",
            "object",
        ),
    )


@dataclass(frozen=True)
class Mark:
    """One marked moment: robot-clock span, atomic skill and details."""

    start_ns: int
    end_ns: int
    skill_atomic: str  # move, pick, place
    skill_detail_zh: str
    skill_detail_en: str
    mark_type: str = "step"


def _local_wall_clock(t_ns: int) -> str:
    dt = datetime.fromtimestamp(t_ns / 1e9, tz=BEIJING_TZ)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def _utc_iso(t_ns: int) -> str:
    dt = datetime.fromtimestamp(t_ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _position(t_ns: int, bag_start_ns: int, bag_end_ns: int) -> float:
    span = max(bag_end_ns - bag_start_ns, 1)
    return round(min(max((t_ns - bag_start_ns) / span, 0.0), 1.0), 4)


def metadata_document(
    *,
    device_sn: str,
    eef_type: str | None,
    task_code: str,
    marks: list[Mark] | None,
    bag_start_ns: int,
    bag_end_ns: int,
) -> dict[str, Any]:
    """metadata.json; with ``marks`` the newer single-file variant (``marks[]``, camelCase)."""
    lab = task_labels(task_code)
    doc: dict[str, Any] = {"device_sn": device_sn}
    if eef_type is not None:
        doc["eef_type"] = eef_type
    doc.update(
        {
            "scene_code": lab.scene_code,
            "scene_name": lab.scene_name,
            "scene_name_en": lab.scene_name_en,
            "sub_scene_code": lab.sub_scene_code,
            "sub_scene_name": lab.sub_scene_name,
            "sub_scene_name_en": lab.sub_scene_name_en,
            "task_group_code": lab.task_group_code,
            "task_group_name": lab.task_group_name,
            "task_code": task_code,
            "task_name": lab.task_name,
        }
    )
    if marks is not None:
        doc["marks"] = [
            {
                "markStart": _local_wall_clock(m.start_ns),
                "markEnd": _local_wall_clock(m.end_ns),
                "duration": f"{(m.end_ns - m.start_ns) / 1e9:.3f}s",
                "skillAtomic": m.skill_atomic,
                "skillDetail": m.skill_detail_zh,
                "enSkillDetail": m.skill_detail_en,
                "markType": m.mark_type,
                "startPosition": _position(m.start_ns, bag_start_ns, bag_end_ns),
                "endPosition": _position(m.end_ns, bag_start_ns, bag_end_ns),
            }
            for m in marks
        ]
    return doc


def moments_document(marks: list[Mark], bag_start_ns: int, bag_end_ns: int) -> dict[str, Any]:
    """moments.json: trigger time (UTC), duration, and the marks as custom field values."""
    return {
        "moments": [
            {
                "triggerTime": _utc_iso(m.start_ns),
                "duration": f"{(m.end_ns - m.start_ns) / 1e9:.3f}s",
                "customFieldValues": {
                    "mark_start": _local_wall_clock(m.start_ns),
                    "mark_end": _local_wall_clock(m.end_ns),
                    "start_position": _position(m.start_ns, bag_start_ns, bag_end_ns),
                    "end_position": _position(m.end_ns, bag_start_ns, bag_end_ns),
                    "mark_type": m.mark_type,
                    "skill_atomic": m.skill_atomic,
                    "skill_detail": m.skill_detail_zh,
                    "en_skill_detail": m.skill_detail_en,
                },
            }
            for m in marks
        ]
    }


def json_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
