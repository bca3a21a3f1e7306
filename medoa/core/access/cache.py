"""A small per-process cache for the access checks every request makes.

Each signed-in request needs to know who is calling and what they may do: the bearer token (a
four-table join), the permission principal (staff, role assignments, grants), the department
chain, and — for a browser session — whether the session is still live. These change rarely, yet
reading them costs several queries per request. This module keeps them in memory, per process,
for ``MEDOA_ACCESS_CACHE_SECONDS`` (default 5; ``0`` turns caching off, which the test profile
does):

* ``tokens`` — token hash → the token row and its user (with staff and department);
* ``principals`` — user id → ``policy.Principal``;
* ``sessions`` — session key → the id of the user whose live session it is;
* ``user_data`` — per-user page data that may lag by the TTL (the workbench's delegations card).

Staleness bound. A change made through MedOA's services in this process invalidates the entries
it touches at once, and again when its transaction commits (``access_cache_forget_user``,
``access_cache_forget_token``, ``access_cache_forget_session``, ``access_cache_clear``). Other
processes (every gunicorn worker is one) keep what they read for at most the TTL: for up to
``MEDOA_ACCESS_CACHE_SECONDS`` after a role is revoked, a grant is changed, a token is revoked or a
person is deactivated, a request served by another worker may still be answered with the old
rights. A token's expiry is checked against its stored ``expires_at`` on every request, so an
expired token is never accepted. A browser session that was ended is refused everywhere at once
in practice, because the session row itself is deleted and read on every request.

Not cached: the account a browser session is signed in as (Django reads it per request). A
person's own changes to it — a new password, TOTP enrolment — must be seen by the very next
request, whichever process serves it, or the session guard would send them back to the page they
just completed (or Django would sign them out on the stale password hash).

Entries are bounded (``MAX_ENTRIES`` per cache, least recently used dropped first, expired ones
dropped as new ones arrive), and every cache is safe to share between the threads of a worker.
Cached model instances are shared: code that hands them to a request copies them first (see
``policy.principal_of`` and ``tokens.api_token_authenticate``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final, Generic, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models.base import ModelState

V = TypeVar("V")
M = TypeVar("M", bound=models.Model)
MAX_ENTRIES: Final = 4096
DEFAULT_TTL_SECONDS: Final = 5.0


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


# Seconds on a clock that never goes back (tests move it forward).
_clock = time.monotonic


def ttl_seconds() -> float:
    """The configured lifetime of an entry; ``0`` (or less) disables every access cache."""
    return float(getattr(settings, "MEDOA_ACCESS_CACHE_SECONDS", DEFAULT_TTL_SECONDS))


class TTLCache(Generic[V]):
    """A thread-safe mapping whose entries expire ``ttl_seconds()`` after they were stored.

    ``generation()`` / ``set(..., generation=g)`` close the race between a reader and a writer in
    the same process: a reader notes the generation before it queries the database; an
    invalidation bumps it; the reader's ``set`` is then dropped, so a value read before a change
    committed is never stored after the change invalidated the cache.
    """

    def __init__(self, name: str, max_entries: int = MAX_ENTRIES) -> None:
        self.name = name
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def generation(self) -> int:
        return self._generation

    def get(self, key: Hashable) -> V | _Missing:
        if ttl_seconds() <= 0:
            return MISSING
        now = _clock()
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return MISSING
            if entry[0] <= now:
                del self._data[key]
                return MISSING
            self._data.move_to_end(key)
            return entry[1]

    def set(self, key: Hashable, value: V, *, generation: int | None = None) -> None:
        ttl = ttl_seconds()
        if ttl <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            now = _clock()
            self._data[key] = (now + ttl, value)
            self._data.move_to_end(key)
            # Drop the least recently used entries while they have expired or there are too many,
            # so that entries nobody asks for again do not stay in memory until the bound.
            while self._data:
                oldest_expiry = next(iter(self._data.values()))[0]
                if oldest_expiry > now and len(self._data) <= self.max_entries:
                    break
                self._data.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._generation += 1
            self._data.pop(key, None)

    def discard_where(self, predicate: Callable[[Hashable, V], bool]) -> None:
        with self._lock:
            self._generation += 1
            for key in [k for k, (_at, v) in self._data.items() if predicate(k, v)]:
                del self._data[key]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


# The values are typed loosely here: tokens.py and policy.py own their shapes.
tokens: TTLCache[Any] = TTLCache("tokens")
principals: TTLCache[Any] = TTLCache("principals")
sessions: TTLCache[int] = TTLCache("sessions")
# Per-user data of the pages that is cheap to get wrong for a few seconds (the workbench cards).
user_data: TTLCache[Any] = TTLCache("user data")
# Facts about the organisation that every process step reads and people change rarely: who holds
# a role for a department, whose tasks are delegated, a person by username (the process engine's
# task assignment). Any change to a person, their roles or delegations drops all of them.
org_facts: TTLCache[Any] = TTLCache("org facts")
CACHES: tuple[TTLCache[Any], ...] = (tokens, principals, sessions, user_data, org_facts)


def model_copy(instance: M) -> M:
    """A shallow copy of a model instance for one request: its own field values and its own
    cache of related objects (which still point at the shared related instances — copy those
    too when the request may change them). What ``copy.copy`` does, at a fraction of the cost
    (it pickles the instance's state)."""
    clone = object.__new__(type(instance))
    clone.__dict__.update(instance.__dict__)
    state = object.__new__(ModelState)
    state.__dict__.update(instance._state.__dict__)
    state.__dict__.pop("related_managers_cache", None)
    if "fields_cache" in state.__dict__:
        state.fields_cache = dict(state.fields_cache)
    clone._state = state
    return clone


def _now_and_after_commit(action: Callable[[], None]) -> None:
    """Run ``action`` now and, inside a transaction, once more after it commits: another thread
    may read the old rows (and cache them) until the commit makes the change visible."""
    action()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(action)


def _user_id(user: Any) -> int | None:
    if user is None:
        return None
    if isinstance(user, int):
        return user
    pk = getattr(user, "pk", None)
    return int(pk) if pk is not None else None


def access_cache_forget_user(user: Any) -> None:
    """Drop everything cached about ``user`` (a user object or id): principal, tokens, sessions
    and per-user page data. Call it after a change to their account, staff record, roles,
    sessions or tokens."""
    user_id = _user_id(user)
    if user_id is None:
        return

    def forget() -> None:
        principals.discard(user_id)
        tokens.discard_where(lambda _key, entry: getattr(entry, "user_id", None) == user_id)
        sessions.discard_where(lambda _key, owner: owner == user_id)
        user_data.discard_where(lambda key, _value: isinstance(key, tuple) and key[1:2] == (user_id,))
        org_facts.clear()

    _now_and_after_commit(forget)


def access_cache_forget_token(token_id: int) -> None:
    """Drop the cached lookup of one API token (revocation)."""

    def forget() -> None:
        tokens.discard_where(lambda _key, entry: getattr(entry, "token_id", None) == token_id)

    _now_and_after_commit(forget)


def access_cache_forget_session(session_key: str) -> None:
    """Drop the cached "live session" answer of one session key (logout, expiry, rekey)."""
    _now_and_after_commit(lambda: sessions.discard(session_key))


def access_cache_forget_user_data(kind: str, user: Any) -> None:
    """Drop one kind of cached per-user page data (``user_data_get``) of ``user``."""
    user_id = _user_id(user)
    if user_id is not None:

        def forget() -> None:
            user_data.discard((kind, user_id))
            org_facts.clear()

        _now_and_after_commit(forget)


def access_cache_clear() -> None:
    """Drop everything this process caches: after a change that reaches many users at once (a
    role's grants, a department's place or name)."""

    def clear() -> None:
        for each in CACHES:
            each.clear()

    _now_and_after_commit(clear)


def user_data_get(kind: str, user_id: int, load: Callable[[], V]) -> V:
    """``load()``'s answer for ``(kind, user_id)``, cached for the TTL. Writers that change what
    ``load`` reads call ``access_cache_forget_user_data(kind, user)``."""
    key = (kind, user_id)
    hit = user_data.get(key)
    if not isinstance(hit, _Missing):
        value: V = hit
        return value
    generation = user_data.generation()
    value = load()
    user_data.set(key, value, generation=generation)
    return value


def org_fact(key: Hashable, load: Callable[[], V]) -> V:
    """``load()``'s answer for ``key``, shared by the process for the TTL (see ``org_facts``).
    The value is shared between threads: treat it as read-only."""
    hit = org_facts.get(key)
    if not isinstance(hit, _Missing):
        value: V = hit
        return value
    generation = org_facts.generation()
    value = load()
    org_facts.set(key, value, generation=generation)
    return value


def access_cache_forget_org_facts() -> None:
    """Drop the cached organisation facts (after a change to roles, delegations, departments)."""
    _now_and_after_commit(org_facts.clear)
