"""The validation report of a night: JSON for scripts, self-contained HTML for QA reviewers."""
