"""Prefect flows: orchestration only (retries, concurrency, artifacts). Stages live in
``teleop_lake.pipeline`` and run without Prefect."""
