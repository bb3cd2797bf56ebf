"""Releases: data segments written once, release manifests that reference them, verify, read."""
