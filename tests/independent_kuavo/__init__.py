"""An independent writer of Kuavo-format deliveries, kept apart from the pipeline's simulator.

It writes what a Beijing-style collection center delivers (docs: KUAVO.md, DROP.md) from the
public documents alone, so that tests can prove the pipeline reads recordings it did not write:

- `bag`: a ROS 1 bag v2.0 container writer (standard library and numpy only);
- `ros1_msg`: ROS 1 message definitions: parsing ``.msg`` text, the ROS md5sum, the full
  definition a recorder embeds, little-endian serialisation;
- `kuavo`: the Kuavo topics, their message definitions and builders, camera JPEGs, label files;
- `motion`: the motion model (operator arm targets, robot commands and measured joints, hands
  and claws closing on an object, standing legs);
- `truth`: the ground-truth tables (docs/TRUTH.md plus the issue-9 additions);
- `network`: per-rig variation, faults, the drop folder and manifest, and the command line.

Nothing here imports ``teleop_lake``: the writer reads only two data files of the repository,
the robot model (``robots/kuavo_4pro.toml``: joint order and limits, which are the mechanical
stops) and the task catalog (``tasks/catalog.toml``), and re-derives the lake's episode id.
"""
