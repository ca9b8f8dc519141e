"""What the routes need, and the FastAPI dependencies that hand it to them.

Routers of other packages (e.g. the lifecycle routes: export requests, erasure) use the same
dependencies, so they need nothing but FastAPI and this module:

    from fastapi import APIRouter
    from runtime.service.context import OwnerDataDep, OwnerScopeDep

    def router() -> APIRouter:
        api = APIRouter(prefix="/v1/exports", tags=["exports"])

        @api.post("")
        def request_export(principal: OwnerScopeDep, data: OwnerDataDep) -> ...:
            with data.database.owner_transaction(principal) as tx: ...

        return api

    app = create_app(context, routers=[router()])

`owner_scope` authenticates the caller (401 otherwise) and binds it to its organisation;
`owner_data` is the owner mode's database, records and cipher (a 404 in support mode). Both are plain
functions (FastAPI runs them in a worker thread); the annotations `OwnerScopeDep` and `OwnerDataDep`
use their coroutine twins, which run on the event loop. `StaffMemberDep` is the support routes' only
dependency (P4): a caller the staff rule allows, checked again here whatever the authenticator resolved,
so even a support service wired with an owner resolver serves no customer; anyone else gets the 401
of a bad token.

Names: a `Caller` (runtime.service.auth) is who called over HTTP, as its credential says; a `StaffMember`
(runtime.service.identity) is a caller the staff IdP vouched for; an `OwnerScope` (runtime.db.session) is what
a transaction is bound to (owner, pseudonymous actor, request). The dependency annotations end in `Dep` and
hand the route the named value: `OwnerScopeDep`, `OwnerDataDep`, `StaffMemberDep`.
"""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from runtime.db import Database, OwnerScope, Records
from runtime.db.connect import ConnectionSource
from runtime.db.groups import KeyReady, OwnerGroups
from runtime.db.self_check import ServiceMode
from runtime.db.session import AsyncDatabase
from runtime.envelope import EnvelopeCipher
from runtime.service.auth import AdminRule, AuthenticationError, Authenticator, Caller, Refusal
from runtime.service.health import Readiness
from runtime.service.identity import Identities, StaffMember, StaffResolver


@dataclass(frozen=True)
class OwnerData:
    """Owner mode: owner-bound, audited transactions (RLS), and the record API that encrypts (P3, P6, P14)."""

    database: Database
    records: Records
    cipher: EnvelopeCipher
    # The owner API's async transactions, their pool not yet open: each app opens its own on its event loop.
    live: Callable[[], AsyncDatabase] = field(repr=False)


@dataclass(frozen=True)
class LiveOwnerData:
    """The owner API's endpoints' data layer: OwnerData's records and cipher, and async owner transactions
    on the pool its app opened (runtime/service/app.py), single creates and reads grouped per organisation."""

    database: AsyncDatabase
    records: Records
    cipher: EnvelopeCipher
    key_ready: KeyReady
    groups: OwnerGroups

    @classmethod
    def opened(cls, database: AsyncDatabase, owner: OwnerData) -> "LiveOwnerData":
        ready = key_loader(owner.cipher)
        return cls(database, owner.records, owner.cipher, ready, OwnerGroups(database, owner.records, ready))


def key_loader(cipher: EnvelopeCipher) -> KeyReady:
    """`await key_ready(principal, uses, create)`: the organisation's data key in the cipher's cache before a
    transaction, so encrypting and decrypting run on the event loop without waiting; loading it (the key
    store, KMS) waits in a worker thread."""

    async def key_ready(principal: OwnerScope, uses: int, create: bool) -> None:
        owner = str(principal.owner_id)
        if not cipher.holds_key(owner, uses=max(uses, 1)):
            await run_in_threadpool(cipher.load_key, owner, create=create)

    return key_ready


@dataclass(frozen=True)
class ServiceContext:
    mode: ServiceMode
    authenticator: Authenticator
    identities: Identities
    readiness: Readiness
    owner: OwnerData | None = None  # owner mode only
    support: ConnectionSource | None = None  # support mode only: connections as the support role (P4)
    staff: StaffResolver | None = None  # support mode only: who is support staff; nobody when None (P4)
    www_authenticate: str | None = None  # the challenge a 401 carries ("Bearer" for bearer tokens)
    # Authenticate in a worker thread (the authenticator may wait on the network, e.g. for a key), or on the
    # event loop (CPU only: a signature check, or a cache hit), which saves the request a thread hop.
    authenticate_in_thread: bool = False
    worker_threads: int = 10  # request threads: the database pool's size (runtime.service.app's lifespan)
    # (name, get_stats) of the service's database pools, for its metrics (runtime.service.metrics)
    pool_stats: tuple[tuple[str, Callable[[], Mapping[str, int]]], ...] = field(default=(), repr=False)
    closers: tuple[Callable[[], None], ...] = field(default=(), repr=False)

    @property
    def service_name(self) -> str:
        return "data" if self.mode is ServiceMode.OWNER else "support"

    def close(self) -> None:
        for close in self.closers:
            close()


STATE_KEY = "platform"
LIVE_STATE_KEY = "owner_live"  # app.state.owner_live: {event loop: LiveOwnerData} while the app's lifespans run


def live_by_loop(app: Any) -> dict[asyncio.AbstractEventLoop, "LiveOwnerData"]:
    """The owner API's data layer of each event loop running the app: an async pool serves only the loop that
    opened it (tests run one app under several loops)."""
    found = getattr(app.state, LIVE_STATE_KEY, None)
    if found is None:
        found = {}
        setattr(app.state, LIVE_STATE_KEY, found)
    return found


def service_context(request: Request) -> ServiceContext:
    context = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(context, ServiceContext):
        raise RuntimeError("the application was not built by runtime.service.app.create_app")
    return context


def request_id(request: Request) -> str:
    value = getattr(request.state, "request_id", None)
    if not isinstance(value, str):
        raise RuntimeError("no request id: RequestContextMiddleware is not installed")
    return value


def caller(request: Request) -> Caller:
    """The authenticated caller; AuthenticationError (401) otherwise. (FastAPI runs it in a worker thread.)"""
    return service_context(request).authenticator.authenticate(request.headers)


def owner_scope(request: Request) -> OwnerScope:
    """The caller as the data layer's principal: its organisation is the owner every query is bound to."""
    context = service_context(request)
    return context.identities.owner_scope(caller(request), request_id(request))


def owner_data(request: Request) -> OwnerData:
    """Owner mode's data layer; a 404 in support mode."""
    data = service_context(request).owner
    if data is None:
        raise HTTPException(404, "Not Found")
    return data


# The same, as coroutines: FastAPI runs them on the event loop, which saves each request a hop to a worker
# thread and back. Authentication still goes to a thread when it may wait on the network (a key fetch).


async def caller_async(request: Request) -> Caller:
    context = service_context(request)
    authenticator = context.authenticator
    if not context.authenticate_in_thread:
        return authenticator.authenticate(request.headers)
    known = authenticator.cached(request.headers)
    if known is not None:
        return known
    return await run_in_threadpool(authenticator.authenticate, request.headers)


async def owner_scope_async(request: Request) -> OwnerScope:
    who = await caller_async(request)
    return service_context(request).identities.owner_scope(who, request_id(request))


async def owner_data_async(request: Request) -> OwnerData:
    return owner_data(request)


async def live_owner_data(request: Request) -> LiveOwnerData:
    """The owner API's async data layer; a 404 in support mode."""
    owner_data(request)
    live = live_by_loop(request.app).get(asyncio.get_running_loop())
    if live is None:
        raise RuntimeError("the owner API's pool is opened by the app's lifespan: run the app with uvicorn, "
                           "or use `with TestClient(app)`")
    return live


async def staff_member_async(request: Request) -> StaffMember:
    """Support staff only (P4): the authenticated caller, when the context's staff rule allows it."""
    who = await caller_async(request)
    context = service_context(request)
    if context.mode is not ServiceMode.SUPPORT or context.staff is None or not context.staff.allows(who):
        raise AuthenticationError(Refusal.NOT_STAFF)
    assert isinstance(who, StaffMember)  # StaffResolver.allows admits staff members only
    return who


def admin_scope(rule: AdminRule) -> Callable[[Request], OwnerScope]:
    """A dependency: the caller as the data layer's principal when `rule` says it is its organisation's
    admin (e.g. for the lifecycle routes); 401 when not authenticated, 403 for anyone else. A plain
    function, like `owner_scope` (FastAPI runs it in a worker thread)."""

    def organisation_admin(request: Request) -> OwnerScope:
        who = caller(request)
        principal = service_context(request).identities.owner_scope(who, request_id(request))
        if not rule.allows(who):
            raise HTTPException(403, "only the organisation's admin may do this")
        return principal

    return organisation_admin


# The dependencies as annotations: `def endpoint(principal: OwnerScopeDep, data: OwnerDataDep)`.
OwnerScopeDep = Annotated[OwnerScope, Depends(owner_scope_async)]
OwnerDataDep = Annotated[OwnerData, Depends(owner_data_async)]
LiveOwnerDataDep = Annotated[LiveOwnerData, Depends(live_owner_data)]
StaffMemberDep = Annotated[StaffMember, Depends(staff_member_async)]
