"""The lake: its layout, storage access over fsspec, the ledger and the quarantine."""
