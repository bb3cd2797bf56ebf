"""The collection network: center profiles, drops, manifests and the pull."""
