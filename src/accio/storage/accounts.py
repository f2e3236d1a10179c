"""Accounts: users, their API tokens (only a SHA-256 hash of a token is ever stored) and the
web UI's sessions (a row per sign-in, so that signing out ends a session on the server: a copy
of the cookie kept by anyone signs in no more).

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


@dataclass(frozen=True)
class SessionRecord:
    """A web UI sign-in: the cookie names ``id``; it is live while not ended, not expired and
    made with a token that is not revoked."""

    id: str
    user: str
    token_id: str
    created: float
    expires: float
    ended: float | None = None


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(user: str) -> tuple[str, TokenRecord]:
    """A fresh random token and the record (its hash) to store for it."""
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):  # 'accio login --token -x...' would read it as a flag
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
    def users(self) -> list[UserRecord]:
        """Every user, by name."""

    @abstractmethod
    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Every token record (of ``user`` only, when given), oldest first."""

    @abstractmethod
    def revoke_token(self, id: str) -> TokenRecord:
        """Mark a token revoked (from now); :class:`NotFoundError` when unknown."""

    @abstractmethod
    def start_session(self, rec: SessionRecord) -> None:
        """Store a new session (and forget expired ones)."""

    @abstractmethod
    def session_user(self, id: str) -> UserRecord | None:
        """The user of a live session: stored, not ended, not expired, its token not revoked."""

    @abstractmethod
    def end_session(self, id: str) -> None:
        """Mark a session ended (from now); nothing when unknown or already ended."""

    def authenticate(self, token: str) -> UserRecord | None:
        """The user a live (not revoked) token belongs to, or None."""
        digest = hash_token(token)
        for rec in self.tokens():
            if secrets.compare_digest(rec.hash, digest) and rec.revoked is None:
                return self.get_user(rec.user)
        return None

    def token_id(self, token: str) -> str | None:
        """The id of a live token, or None."""
        digest = hash_token(token)
        for rec in self.tokens():
            if secrets.compare_digest(rec.hash, digest) and rec.revoked is None:
                return rec.id
        return None


class MemoryAccounts(AccountsApi):
    """Users and tokens in process memory."""

    _accounts_lock = threading.Lock()

    def _accounts(
        self,
    ) -> tuple[dict[str, UserRecord], dict[str, TokenRecord], dict[str, SessionRecord]]:
        state = self.__dict__.get("_accounts_state")
        if state is None:
            state = self.__dict__.setdefault("_accounts_state", ({}, {}, {}))
        return state  # type: ignore[no-any-return]

    def add_user(self, rec: UserRecord) -> None:
        users = self._accounts()[0]
        with self._accounts_lock:
            if rec.name in users:
                raise UsageError(f"user {rec.name!r} already exists")
            users[rec.name] = rec

    def get_user(self, name: str) -> UserRecord | None:
        return self._accounts()[0].get(name)

    def add_token(self, rec: TokenRecord) -> None:
        users, tokens, _ = self._accounts()
        if rec.user not in users:
            raise NotFoundError(f"no user {rec.user!r}")
        tokens[rec.id] = rec

    def users(self) -> list[UserRecord]:
        return sorted(self._accounts()[0].values(), key=lambda u: u.name)

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        found = self._accounts()[1].values()
        return sorted(
            (t for t in found if user is None or t.user == user), key=lambda t: t.created
        )

    def revoke_token(self, id: str) -> TokenRecord:
        tokens = self._accounts()[1]
        with self._accounts_lock:
            if id not in tokens:
                raise NotFoundError(f"no token {id!r}")
            tokens[id] = rec = replace(tokens[id], revoked=time.time())
        return rec

    def start_session(self, rec: SessionRecord) -> None:
        sessions = self._accounts()[2]
        now = time.time()
        with self._accounts_lock:
            for old in [s for s in sessions.values() if s.expires <= now]:
                del sessions[old.id]
            sessions[rec.id] = rec

    def session_user(self, id: str) -> UserRecord | None:
        _, tokens, sessions = self._accounts()
        rec = sessions.get(id)
        if rec is None or rec.ended is not None or rec.expires <= time.time():
            return None
        token = tokens.get(rec.token_id)
        return None if token is None or token.revoked is not None else self.get_user(rec.user)

    def end_session(self, id: str) -> None:
        sessions = self._accounts()[2]
        with self._accounts_lock:
            rec = sessions.get(id)
            if rec is not None and rec.ended is None:
                sessions[id] = replace(rec, ended=time.time())
