"""Users and tokens in the ``users`` and ``tokens`` tables of a SQL storage."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from accio.errors import NotFoundError, UsageError
from accio.storage import schema as db
from accio.storage.accounts import AccountsApi, TokenRecord, UserRecord, hash_token


class SqlAccounts(AccountsApi):
    """Users and tokens in the ``users`` and ``tokens`` tables."""

    _engine: Any
    _write_engine: Any

    def add_user(self, rec: UserRecord) -> None:
        with self._write_engine.begin() as conn:
            found = conn.execute(sa.select(db.users.c.name).where(db.users.c.name == rec.name))
            if found.first() is not None:
                raise UsageError(f"user {rec.name!r} already exists")
            conn.execute(
                db.users.insert().values(name=rec.name, admin=rec.admin, created=rec.created)
            )

    def get_user(self, name: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(db.users).where(db.users.c.name == name)).first()
        return None if row is None else UserRecord(row.name, bool(row.admin), row.created)

    def add_token(self, rec: TokenRecord) -> None:

        from accio.storage import schema as db

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

    def tokens(self) -> list[TokenRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(db.tokens).order_by(db.tokens.c.created)).all()
        return [TokenRecord(r.id, r.user, r.hash, r.created, r.revoked) for r in rows]

    def authenticate(self, token: str) -> UserRecord | None:
        digest = hash_token(token)
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(db.tokens.c.user).where(
                    db.tokens.c.hash == digest, db.tokens.c.revoked.is_(None)
                )
            ).first()
        return None if row is None else self.get_user(row.user)

    def revoke_token(self, id: str) -> TokenRecord:

        from accio.storage import schema as db

        with self._write_engine.begin() as conn:
            done = conn.execute(
                db.tokens.update().where(db.tokens.c.id == id).values(revoked=time.time())
            )
            if done.rowcount == 0:
                raise NotFoundError(f"no token {id!r}")
        return next(t for t in self.tokens() if t.id == id)
