"""Clients of an Accio home, all behind one contract (:mod:`accio.client.contract`).

::

    from accio.client import LocalClient, RemoteClient
    client = LocalClient()                          # $ACCIO_HOME on this machine
    client = RemoteClient("http://host:8765")       # an Accio server; same methods, same records

``LocalClient`` and ``RemoteClient`` are imported on first use, so that importing the contract
does not load the engine or an HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accio.client.contract import AccioClient, SchedulerStatus, Submission

if TYPE_CHECKING:
    from accio.client.local import LocalClient
    from accio.client.remote import RemoteClient

__all__ = ["AccioClient", "LocalClient", "RemoteClient", "SchedulerStatus", "Submission"]


def __getattr__(name: str) -> Any:
    if name == "LocalClient":
        from accio.client.local import LocalClient

        return LocalClient
    if name == "RemoteClient":
        from accio.client.remote import RemoteClient

        return RemoteClient
    raise AttributeError(f"module 'accio.client' has no attribute {name!r}")
