"""Accounts: users and their API tokens (only a SHA-256 hash of a token is ever stored).

:class:`AccountsApi` is the part of the storage contract; :class:`MemoryAccounts` implements
it for :class:`~accio.storage.memory.MemoryStorage`, :class:`accio.storage.sqlaccounts.SqlAccounts`
for :class:`~accio.storage.sql.SqlStorage`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

from accio.errors import NotFoundError, UsageError


@dataclass(frozen=True)
class UserRecord:
    name: str
    admin: bool
    created: float


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user: str
    hash: str  # SHA-256 hex of the token; the token itself is never stored
    created: float
    revoked: float | None = None


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(user: str) -> tuple[str, TokenRecord]:
    """A fresh random token and the record (its hash) to store for it."""
    token = secrets.token_urlsafe(32)
    rec = TokenRecord(secrets.token_hex(6), user, hash_token(token), time.time())
    return token, rec


class AccountsApi(ABC):
    """Users and tokens in a storage."""

    @abstractmethod
    def add_user(self, rec: UserRecord) -> None:
        """Store a new user; :class:`UsageError` when the name is taken."""

    @abstractmethod
    def get_user(self, name: str) -> UserRecord | None: ...

    @abstractmethod
    def add_token(self, rec: TokenRecord) -> None:
        """Store a token record; its user must exist."""

    @abstractmethod
    def tokens(self) -> list[TokenRecord]: ...

    @abstractmethod
    def revoke_token(self, id: str) -> TokenRecord:
        """Mark a token revoked (from now); :class:`NotFoundError` when unknown."""

    def authenticate(self, token: str) -> UserRecord | None:
        """The user a live (not revoked) token belongs to, or None."""
        digest = hash_token(token)
        for rec in self.tokens():
            if secrets.compare_digest(rec.hash, digest) and rec.revoked is None:
                return self.get_user(rec.user)
        return None


class MemoryAccounts(AccountsApi):
    """Users and tokens in process memory."""

    _accounts_lock = threading.Lock()

    def _accounts(self) -> tuple[dict[str, UserRecord], dict[str, TokenRecord]]:
        state = self.__dict__.get("_accounts_state")
        if state is None:
            state = self.__dict__.setdefault("_accounts_state", ({}, {}))
        return state  # type: ignore[no-any-return]

    def add_user(self, rec: UserRecord) -> None:
        users, _ = self._accounts()
        with self._accounts_lock:
            if rec.name in users:
                raise UsageError(f"user {rec.name!r} already exists")
            users[rec.name] = rec

    def get_user(self, name: str) -> UserRecord | None:
        return self._accounts()[0].get(name)

    def add_token(self, rec: TokenRecord) -> None:
        users, tokens = self._accounts()
        if rec.user not in users:
            raise NotFoundError(f"no user {rec.user!r}")
        tokens[rec.id] = rec

    def tokens(self) -> list[TokenRecord]:
        return list(self._accounts()[1].values())

    def revoke_token(self, id: str) -> TokenRecord:
        _, tokens = self._accounts()
        with self._accounts_lock:
            if id not in tokens:
                raise NotFoundError(f"no token {id!r}")
            tokens[id] = rec = replace(tokens[id], revoked=time.time())
        return rec
