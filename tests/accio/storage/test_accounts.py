"""Users, tokens and web sessions in every storage backend: tokens are stored as SHA-256
hashes only; a session ends on sign-out, on expiry and with its token."""

from __future__ import annotations

import dataclasses
import time

import pytest
import sqlalchemy as sa
from tests.accio.storage.test_storage_contract import storage  # noqa: F401

from accio.errors import NotFoundError, UsageError
from accio.storage import schema
from accio.storage.accounts import SessionRecord, UserRecord, hash_token, new_token
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


def test_users_and_tokens_are_listed_by_user(storage: Storage) -> None:  # noqa: F811
    storage.add_user(UserRecord("bob", False, 2.0))
    storage.add_user(UserRecord("ada", True, 1.0))
    assert storage.users() == [UserRecord("ada", True, 1.0), UserRecord("bob", False, 2.0)]
    ada1 = new_token("ada")[1]
    bob1 = new_token("bob")[1]
    ada2 = new_token("ada")[1]
    for n, rec in enumerate((ada1, bob1, ada2)):
        storage.add_token(dataclasses.replace(rec, created=10.0 + n))
    assert [t.id for t in storage.tokens("ada")] == [ada1.id, ada2.id]
    assert [t.id for t in storage.tokens("bob")] == [bob1.id]
    assert [t.id for t in storage.tokens()] == [ada1.id, bob1.id, ada2.id]
    assert storage.tokens("nobody") == []
    storage.revoke_token(ada1.id)
    listed = storage.tokens("ada")
    assert listed[0].revoked is not None and listed[1].revoked is None


def test_sessions_end_expire_and_die_with_their_token(storage: Storage) -> None:  # noqa: F811
    ada = UserRecord("ada", False, 1.0)
    storage.add_user(ada)
    token, rec = new_token("ada")
    storage.add_token(rec)
    assert storage.token_id(token) == rec.id and storage.token_id(token + "x") is None
    now = time.time()
    storage.start_session(SessionRecord("s1", "ada", rec.id, now, now + 60))
    storage.start_session(SessionRecord("s2", "ada", rec.id, now, now + 60))
    storage.start_session(SessionRecord("old", "ada", rec.id, now - 90, now - 30))
    assert storage.session_user("s1") == ada
    assert storage.session_user("old") is None  # expired
    assert storage.session_user("nope") is None
    storage.end_session("s1")
    storage.end_session("s1")  # twice: nothing
    storage.end_session("nope")
    assert storage.session_user("s1") is None  # signed out
    assert storage.session_user("s2") == ada  # another sign-in lives on
    storage.revoke_token(rec.id)
    assert storage.session_user("s2") is None  # its token revoked
    assert storage.token_id(token) is None
