"""Users, tokens and web sessions in the ``users``, ``tokens`` and ``sessions`` tables."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accio.errors import NotFoundError, UsageError
from accio.storage import schema as db
from accio.storage.accounts import (
    AccountsApi,
    SessionRecord,
    TokenRecord,
    UserRecord,
    hash_token,
)


class SqlAccounts(AccountsApi):
    """Users, tokens and sessions in the ``users``, ``tokens`` and ``sessions`` tables."""

    _write_engine: Any

    if TYPE_CHECKING:

        def _read(self) -> Any:
            """SqlBase's read connection (outside a transaction on PostgreSQL)."""

    def add_user(self, rec: UserRecord) -> None:
        with self._write_engine.begin() as conn:
            found = conn.execute(sa.select(db.users.c.name).where(db.users.c.name == rec.name))
            if found.first() is not None:
                raise UsageError(f"user {rec.name!r} already exists")
            conn.execute(
                db.users.insert().values(name=rec.name, admin=rec.admin, created=rec.created)
            )

    def get_user(self, name: str) -> UserRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(db.users).where(db.users.c.name == name)).first()
        return None if row is None else UserRecord(row.name, bool(row.admin), row.created)

    def users(self) -> list[UserRecord]:
        with self._read() as conn:
            rows = conn.execute(sa.select(db.users).order_by(db.users.c.name)).all()
        return [UserRecord(r.name, bool(r.admin), r.created) for r in rows]

    def add_token(self, rec: TokenRecord) -> None:
        if self.get_user(rec.user) is None:
            raise NotFoundError(f"no user {rec.user!r}")
        with self._write_engine.begin() as conn:
            conn.execute(
                db.tokens.insert().values(
                    id=rec.id,
                    user=rec.user,
                    hash=rec.hash,
                    created=rec.created,
                    revoked=rec.revoked,
                )
            )

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        query = sa.select(db.tokens).order_by(db.tokens.c.created, db.tokens.c.id)
        if user is not None:
            query = query.where(db.tokens.c.user == user)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_token(r) for r in rows]

    def authenticate(self, token: str) -> UserRecord | None:
        """One query (every request of a signed-in client asks): the live token's user."""
        t, u = db.tokens, db.users
        query = (
            sa.select(u)
            .select_from(t.join(u, u.c.name == t.c.user))
            .where(t.c.hash == hash_token(token), t.c.revoked.is_(None))
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else UserRecord(row.name, bool(row.admin), row.created)

    def token_id(self, token: str) -> str | None:
        query = sa.select(db.tokens.c.id).where(
            db.tokens.c.hash == hash_token(token), db.tokens.c.revoked.is_(None)
        )
        with self._read() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else str(found)

    def revoke_token(self, id: str) -> TokenRecord:
        with self._write_engine.begin() as conn:
            done = conn.execute(
                db.tokens.update().where(db.tokens.c.id == id).values(revoked=time.time())
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no token {id!r}")
            r = conn.execute(sa.select(db.tokens).where(db.tokens.c.id == id)).one()
        return _token(r)

    def start_session(self, rec: SessionRecord) -> None:
        with self._write_engine.begin() as conn:
            conn.execute(db.sessions.delete().where(db.sessions.c.expires <= time.time()))
            conn.execute(
                db.sessions.insert().values(
                    id=rec.id,
                    user=rec.user,
                    token_id=rec.token_id,
                    created=rec.created,
                    expires=rec.expires,
                    ended=rec.ended,
                )
            )

    def session_user(self, id: str) -> UserRecord | None:
        """One query: the session, its live token and its user."""
        s, t, u = db.sessions, db.tokens, db.users
        query = (
            sa.select(u)
            .select_from(s.join(t, t.c.id == s.c.token_id).join(u, u.c.name == s.c.user))
            .where(
                s.c.id == id,
                s.c.ended.is_(None),
                s.c.expires > time.time(),
                t.c.revoked.is_(None),
            )
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else UserRecord(row.name, bool(row.admin), row.created)

    def end_session(self, id: str) -> None:
        with self._write_engine.begin() as conn:
            conn.execute(
                db.sessions.update()
                .where(db.sessions.c.id == id, db.sessions.c.ended.is_(None))
                .values(ended=time.time())
            )


def _token(row: Any) -> TokenRecord:
    return TokenRecord(row.id, row.user, row.hash, row.created, row.revoked)
