"""Requests from clients to the scheduler process, as small files in ``$ACCIO_HOME/control``.

The database is the source of truth; these files are only doorbells and orders (a new run was
submitted; kill or delete these runs) that the scheduler picks up on its next iteration. Each
request is written atomically (temp file + rename) and deleted once handled.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

RequestKind = Literal["submitted", "kill", "delete"]


@dataclass
class Requests:
    submitted: bool = False
    kill: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


class ControlChannel:
    def __init__(self, home: Path) -> None:
        self.dir = home / "control"
        self.dir.mkdir(parents=True, exist_ok=True)

    def send(self, kind: RequestKind, run_ids: Sequence[str] = ()) -> None:
        name = f"{os.getpid()}-{uuid.uuid4().hex}.{kind}"
        tmp = self.dir / f".tmp-{name}"
        tmp.write_text(json.dumps(list(run_ids)))
        os.replace(tmp, self.dir / name)

    def take_requests(self) -> Requests:
        requests = Requests()
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return requests
        for name in names:
            if name.startswith(".tmp-"):
                continue
            path = self.dir / name
            kind = name.rsplit(".", 1)[-1]
            try:
                ids = json.loads(path.read_text() or "[]")
                path.unlink()
            except (OSError, ValueError):
                continue
            if kind == "submitted":
                requests.submitted = True
            elif kind == "kill":
                requests.kill.extend(ids)
            elif kind == "delete":
                requests.delete.extend(ids)
        return requests
