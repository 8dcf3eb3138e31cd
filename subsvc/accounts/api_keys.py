"""API keys: generated here, shown once, stored only as a SHA-256 hash plus a display prefix.

A plain hash (not a slow KDF) is right for 256-bit random keys: there is
nothing to brute-force, and every status request must stay one indexed lookup.
"""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from subsvc.models import User
from subsvc.models.base import DbSession, now_utc

KEY_PREFIX = "sk_subsvc_"
DISPLAY_LENGTH = len(KEY_PREFIX) + 6


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh key with its hash and display prefix: (key, api_key_hash, api_key_prefix)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key), key[:DISPLAY_LENGTH]


def issue_key(user: User) -> str:
    """Give the user a new key (replacing any old one) and return it. Adds; no commit."""
    key, user.api_key_hash, user.api_key_prefix = new_key()
    user.api_key_issued_at = user.api_key_issued_at or now_utc()
    return key


def rotate_key(user: User) -> str:
    """Replace the user's key with a new one that counts as shown, and return it. Adds.

    Whoever rotates hands the new key over at once (`flask keys rotate`, the welcome
    page's reveal), so no later reveal may replace it: a rotated key is a revealed key.
    """
    key = issue_key(user)
    user.api_key_revealed_at = now_utc()
    return key


def revoke_key(user: User) -> None:
    user.api_key_hash = None
    user.api_key_prefix = None


def user_for_key(session: DbSession, key: str) -> User | None:
    if not key.startswith(KEY_PREFIX):
        return None
    return session.scalars(select(User).where(User.api_key_hash == hash_key(key))).one_or_none()


def reveal_key_once(session: DbSession, user: User, *, origin_customer_id: str) -> str | None:
    """Replace the user's never-shown key with a new one and return it; None when a key was
    already shown (welcome page, `flask keys rotate`) or revoked, or when the user did not
    first appear with `origin_customer_id`. Adds; the caller commits.

    The row is locked before revealed_at and the origin are read, so of two concurrent
    calls only one reveals, and a merge committed meanwhile (which may clear the origin) is
    seen: FOR UPDATE on Postgres; SQLite drops the clause, but its BEGIN IMMEDIATE already
    lets one writer in at a time.
    """
    stmt = (select(User).where(User.id == user.id).with_for_update()
            .execution_options(populate_existing=True))
    locked = session.scalars(stmt).one_or_none()  # None: merged away since it was read
    if locked is None or locked.origin_customer_id != origin_customer_id:
        return None
    # An operator's `flask keys revoke` must not be undone by a visit to the welcome page.
    if was_shown(locked) or is_revoked(locked):
        return None
    return rotate_key(locked)


def was_shown(user: User) -> bool:
    return user.api_key_revealed_at is not None


def is_revoked(user: User) -> bool:
    return user.api_key_issued_at is not None and user.api_key_hash is None
