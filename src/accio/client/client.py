"""``Client``: the local client under its historical name (see :mod:`accio.client.local`)."""

from accio.cache.explain import NodeExplanation
from accio.client.contract import Submission
from accio.client.local import LocalClient

#: The Python API on a local Accio home (``accio.Client``).
Client = LocalClient

__all__ = ["Client", "LocalClient", "NodeExplanation", "Submission"]
