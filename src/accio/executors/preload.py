"""Imported once by the local executor's fork server, so that workers start with the operator
registry (and the heavy scientific imports of plugins) already loaded."""

from accio.ops.registry import default_registry

default_registry()
