"""The Kuavo label file beside each bag (``metadata.json``, single-file variant with marks).

Scene, sub-scene and task-group names per task, the skill marks (camelCase keys, local
wall-clock times, positions as fractions of the bag duration) and the operator's outcome
mark. Builds a plain dict; the caller writes it. Pure: no IO.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from teleop_lake.simulate.story import Story

# task_code -> (scene code, scene zh, sub-scene code, sub-scene zh, group code, group zh, task zh)
TASK_LABELS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "open_microwave_door": (
        "kitchen",
        "厨房",
        "kitchen_microwave",
        "微波炉台",
        "appliance_operation",
        "家电操作",
        "打开微波炉门",
    ),
    "pack_parcel": (
        "logistics",
        "物流仓储",
        "logistics_packing_table",
        "打包台",
        "packing",
        "包装",
        "将物品放入包裹箱",
    ),
    "separate_coil": (
        "factory",
        "工厂",
        "factory_wire_bench",
        "线材工作台",
        "material_handling",
        "物料处理",
        "从线堆中分离线圈",
    ),
    "fold_towel": (
        "household",
        "家居",
        "household_laundry_table",
        "洗衣台",
        "textile_handling",
        "织物整理",
        "将毛巾对折",
    ),
    "hand_over_cup": (
        "household",
        "家居",
        "household_dining_table",
        "餐桌",
        "object_transfer",
        "物品传递",
        "将杯子从一只手递到另一只手",
    ),
}
GENERIC_LABELS = (
    "general",
    "通用场景",
    "general_table",
    "工作台",
    "general_task",
    "通用任务",
    "通用任务",
)
# The end-effector type written when the caller names none (a plain hand rig).
EEF_TYPE = "dexhand"
# (skillAtomic, skillDetail zh, enSkillDetail) per phase of the timeline.
SKILLS = (
    ("reach", "伸手接近目标物体", "Reach towards the object"),
    ("pick", "抓取物体", "Grasp the object"),
    ("move", "移动物体", "Move the object"),
    ("place", "放置物体并松手", "Place the object and let go"),
    ("retreat", "收回手臂", "Retract the arm"),
)


def _wall_clock(t_ns: int, tz: ZoneInfo) -> str:
    t = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC")) + timedelta(microseconds=t_ns // 1000)
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def skill_marks(story: Story, start_ns: int, timezone: str) -> list[dict[str, Any]]:
    """One ``step`` mark per phase that happened before the recording stopped."""
    tl = story.timeline
    bounds = (
        tl.reach_start_s,
        tl.grasp_start_s,
        tl.grasp_closed_s,
        tl.release_s,
        tl.retreat_start_s,
        tl.retreat_end_s,
    )
    end_s = min(tl.duration_s, tl.motion_end_s)
    tz = ZoneInfo(timezone)
    marks: list[dict[str, Any]] = []
    for (skill, zh, en), a, b in zip(SKILLS, bounds[:-1], bounds[1:], strict=True):
        if a >= end_s:
            break
        b = min(b, end_s)
        a_ns, b_ns = start_ns + round(a * 1e9), start_ns + round(b * 1e9)
        marks.append(
            {
                "markStart": _wall_clock(a_ns, tz),
                "markEnd": _wall_clock(b_ns, tz),
                "duration": f"{b - a:.3f}s",
                "skillAtomic": skill,
                "skillDetail": zh,
                "enSkillDetail": en,
                "markType": "step",
                "startPosition": round(a / tl.duration_s, 4),
                "endPosition": round(b / tl.duration_s, 4),
            }
        )
    return marks


def metadata_document(
    story: Story,
    robot_serial: str,
    start_ns: int,
    timezone: str,
    eef_type: str | None = EEF_TYPE,
) -> dict[str, Any]:
    """The ``metadata.json`` content for one recording; no ``eef_type`` key when it is None
    (older label tooling)."""
    scene, scene_zh, sub, sub_zh, group, group_zh, task_zh = TASK_LABELS.get(
        story.task.code, GENERIC_LABELS
    )
    doc: dict[str, Any] = {"device_sn": robot_serial}
    if eef_type is not None:
        doc["eef_type"] = eef_type
    doc |= {
        "scene_code": scene,
        "scene_name": scene_zh,
        "sub_scene_code": sub,
        "sub_scene_name": sub_zh,
        "task_group_code": group,
        "task_group_name": group_zh,
        "task_code": story.task.code,
        "task_name": story.task.name,
        "task_name_zh": task_zh,
        "marks": skill_marks(story, start_ns, timezone),
    }
    if story.operator_mark is not None:
        doc["operator_mark"] = story.operator_mark
    return doc
