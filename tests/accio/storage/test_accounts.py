"""Users and tokens in every storage backend: tokens are stored as SHA-256 hashes only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.accio.storage.test_storage_contract import storage  # noqa: F401

from accio.errors import NotFoundError, UsageError
from accio.storage import schema
from accio.storage.accounts import UserRecord, hash_token, new_token
from accio.storage.base import Storage
from accio.storage.sql import SqlStorage


def test_users_and_tokens(storage: Storage) -> None:  # noqa: F811
    storage.add_user(UserRecord("ada", True, 1.0))
    with pytest.raises(UsageError):
        storage.add_user(UserRecord("ada", False, 2.0))
    assert storage.get_user("ada") == UserRecord("ada", True, 1.0)
    assert storage.get_user("bob") is None
    token, rec = new_token("ada")
    with pytest.raises(NotFoundError):
        storage.add_token(new_token("bob")[1])
    storage.add_token(rec)
    assert rec.hash == hash_token(token) != token
    assert storage.authenticate(token) == UserRecord("ada", True, 1.0)
    assert storage.authenticate(token + "x") is None
    revoked = storage.revoke_token(rec.id)
    assert revoked.revoked is not None
    assert storage.authenticate(token) is None
    with pytest.raises(NotFoundError):
        storage.revoke_token("nope")


def test_token_rows_hold_no_clear_token(storage: Storage) -> None:  # noqa: F811
    if not isinstance(storage, SqlStorage):
        pytest.skip("reads database rows")
    storage.add_user(UserRecord("ada", False, 1.0))
    token, rec = new_token("ada")
    storage.add_token(rec)
    with storage.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.tokens)).all()
    assert len(rows) == 1
    assert all(token not in str(v) for v in rows[0])
    assert rows[0].hash == hash_token(token)
