"""The schema version of every table in a release (semantic versioning).

Bump the major version when a column is removed or changes meaning; readers
refuse a release whose major version they do not know.
"""

SCHEMA_VERSION = "1.2.0"
