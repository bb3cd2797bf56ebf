"""Plain-Python stages of a night: pull, process, publish, report.

Each stage reads, calls pure transforms, validates and writes; each runs
without any orchestrator. ``flows/`` only wires them (retries, concurrency,
artifacts). Stages take and return small records (URLs, ids, counts), never
frames, so they can run on other workers.
"""
