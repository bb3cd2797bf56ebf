"""Configuration as data: center profiles, robot models and the task catalog.

The lowest layer of the project: the pull, the format adapters, the processing and the CLI
all read it, and it imports nothing of the project. Each part is parsed and checked once per
process (cached); `check_configuration` loads every part and checks them against each other,
so a broken profile, robot model or catalog is said before a night starts.
"""

from __future__ import annotations


def check_configuration() -> list[str]:
    """Load every center profile, robot model and the task catalog; the problems found (empty:
    none). A profile naming an unknown robot model is a problem; so is any file that does not
    parse or validate (its loader's message)."""
    from teleop_lake.config.centers import CENTER_NAMES, load_profile
    from teleop_lake.config.robots import load_robot_model
    from teleop_lake.config.tasks import load_task_catalog

    problems: list[str] = []
    for center in CENTER_NAMES:
        try:
            profile = load_profile(center)
        except (ValueError, KeyError, TypeError, LookupError, OSError) as exc:
            problems.append(f"center profile {center}: {exc}")
            continue
        try:
            load_robot_model(profile.robot_model)
        except (ValueError, KeyError, TypeError, LookupError, OSError) as exc:
            problems.append(f"center profile {center}: robot_model {profile.robot_model!r}: {exc}")
    try:
        load_task_catalog()
    except (ValueError, KeyError, TypeError, LookupError, OSError) as exc:
        problems.append(f"task catalog: {exc}")
    return problems
