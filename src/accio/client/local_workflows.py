"""The workflow half of :class:`~accio.client.local.LocalClient`: push, look up, list.

Who may push: anyone on the embedded default (no authentication, no acting user); on a server
with authentication, a new version of a workflow is for the user who created it (the owner of
its oldest version) or an admin, so that nobody changes what another user's runs of
``workflow: ID`` mean. Submitting a run of a stored version never makes it active again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accio.client.contract import ACTING_ADMIN, ACTING_USER
from accio.definitions.documents import workflow_from_document
from accio.definitions.load import read_json_file, split_workflow_spec, workflow_id_from_path
from accio.definitions.model import Workflow
from accio.errors import NotFoundError, PermissionDenied
from accio.storage.records import WorkflowRecord

if TYPE_CHECKING:
    from accio.config import Settings
    from accio.ops.registry import OperatorRegistry
    from accio.storage.base import Storage


class LocalWorkflows:
    """Workflow methods of the local client (it provides ``storage``, ``registry``,
    ``settings``)."""

    if TYPE_CHECKING:
        settings: Settings

        @property
        def storage(self) -> Storage: ...

        @property
        def registry(self) -> OperatorRegistry: ...

    def push(self, source: str | Path | Mapping[str, Any]) -> tuple[WorkflowRecord, bool]:
        """Validate and store a workflow as a new active version; returns (record, is_new)."""
        if isinstance(source, Mapping):
            workflow, _ = workflow_from_document(dict(source), self.registry)
        else:
            document = read_json_file(source)
            workflow, _ = workflow_from_document(
                document, self.registry, file=str(source), default_id=workflow_id_from_path(source)
            )
        return self._store_workflow(workflow)

    def _store_workflow(self, workflow: Workflow) -> tuple[WorkflowRecord, bool]:
        """Store ``workflow`` as its id's active version; for a signed-in user (a server with
        authentication), only over a workflow they created, unless an admin."""
        actor = ACTING_USER.get()
        if actor is not None and not ACTING_ADMIN.get():
            versions = self.storage.workflow_versions(workflow.id)
            creator = versions[-1].owner if versions else actor  # the oldest version's
            if creator != actor:
                raise PermissionDenied(
                    f"workflow {workflow.id} belongs to {creator}: only its owner or an admin "
                    "may push a version of it (push it under another id)"
                )
        definition = dict(workflow.definition)
        definition["id"] = workflow.id
        record = WorkflowRecord(
            id=workflow.id,
            version=workflow.version,
            definition=json.dumps(definition, ensure_ascii=False),
            name=workflow.name,
            owner=ACTING_USER.get() or workflow.owner or self.settings.user,
            created=time.time(),
            active=True,
        )
        storage = self.storage
        new = storage.push_workflow(record)
        return storage.get_workflow(workflow.id, workflow.version), new

    def _version_of(self, workflow: Workflow) -> WorkflowRecord:
        """The stored version of ``workflow`` as it is (running an older version does not make
        it active again); a version not stored yet is pushed, becoming the active one."""
        try:
            return self.storage.get_workflow(workflow.id, workflow.version)
        except NotFoundError:
            return self._store_workflow(workflow)[0]

    def workflow_record(self, spec: str) -> WorkflowRecord:
        wf_id, version = split_workflow_spec(spec)
        storage = self.storage
        if version is None or len(version) == 40:
            return storage.get_workflow(wf_id, version)
        matches = [w for w in storage.workflow_versions(wf_id) if w.version.startswith(version)]
        if len(matches) != 1:
            raise NotFoundError(f"workflow {wf_id}:{version} not found")
        return matches[0]

    def workflow(self, spec: str) -> Workflow:
        record = self.workflow_record(spec)
        workflow, _ = workflow_from_document(json.loads(record.definition), self.registry)
        return workflow

    def find_stored_workflow(self, spec: str) -> Workflow | None:
        try:
            return self.workflow(spec)
        except NotFoundError:
            return None

    def workflows(
        self,
        owner: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        include_inactive: bool = False,
    ) -> list[WorkflowRecord]:
        return self.storage.list_workflows(
            owner, text, limit, offset, include_inactive=include_inactive
        )

    def count_workflows(
        self, owner: str | None = None, text: str | None = None, *, include_inactive: bool = False
    ) -> int:
        found = self.workflows(owner, text, 2**31 - 1, include_inactive=include_inactive)
        return len(found)

    def workflow_versions(self, wf_id: str) -> list[WorkflowRecord]:
        return self.storage.workflow_versions(wf_id)
