"""The authorization block (C): the CSMS's word on a token, for Auth's `auth_token_validator`.

Auth asks the station about every token it cannot decide itself (`station.validate_token`);
`Authorizer` decides, as OCPP 2.0.1's C01, C10-C13, C15 and C16 say:

- AuthCtrlr.Enabled false: every token is accepted, nothing is asked;
- online, a cached Accepted token (AuthCacheCtrlr) with LocalPreAuthorize is accepted at once;
  any other is sent to the CSMS (Authorize), unless DisableRemoteAuthorization (then only the
  cache counts) or DisablePostAuthorize for a cached token that is not Accepted;
- offline (or the CSMS does not answer), LocalAuthorizeOffline accepts a cached Accepted token
  and OfflineTxForUnknownIdEnabled a token the cache does not know;
- a token of the MasterPassGroupId starts nothing: it stops every running transaction;
- every idTokenInfo the CSMS gives (AuthorizeResponse, TransactionEventResponse) is cached,
  until its cacheExpiryDateTime or AuthCacheCtrlr.LifeTime after its last use, whichever comes
  first; past AuthCacheCtrlr.Storage's maxLimit bytes, entries go by Policy (LRU or LFU).

A token accepted for an EVSE with no EV yet (it is the only one it may go to) tells the
transactions block, which may start the transaction then (TxStartPoint Authorized).
"""

from __future__ import annotations

import logging
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

import msgspec

from evstack.generated.ocpp.v201.datatypes import IdTokenInfoType, IdTokenType
from evstack.generated.ocpp.v201.enums import (
    AttributeEnumType,
    AuthorizationStatusEnumType,
    ClearCacheStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    ClearCacheRequest,
    ClearCacheResponse,
    TransactionEventRequest,
    TransactionEventResponse,
)
from evstack.generated.ocpp.values import dec_hook, enc_hook
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    IdToken,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.authorization import IdTokenType as EvseTokenType
from evstack.generated.types.evse_manager import StopTransactionReason
from evstack.ocpp import v201
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError
from evstack.ocpp.outbox import QueuedMessage
from evstack.runtime.state import transaction

from .blocks import Block
from .device_model import VariableKey, ref
from .station import Station
from .transactions import TransactionsBlock
from .tx_state import ocpp_id_token

__all__ = ["BLOCK", "AuthCache", "AuthSettings", "AuthorizationBlock", "Authorizer", "Decision"]

log = logging.getLogger(__name__)

Status = AuthorizationStatusEnumType
AUTH = "AuthCtrlr"
CACHE = "AuthCacheCtrlr"
KEYS = {
    "enabled": ref(AUTH, "Enabled"),
    "remote_start": ref(AUTH, "AuthorizeRemoteStart"),
    "offline": ref(AUTH, "LocalAuthorizeOffline"),
    "pre_authorize": ref(AUTH, "LocalPreAuthorize"),
    "unknown_offline": ref(AUTH, "OfflineTxForUnknownIdEnabled"),
    "no_remote": ref(AUTH, "DisableRemoteAuthorization"),
    "master_pass": ref(AUTH, "MasterPassGroupId"),
    "cache": ref(CACHE, "Enabled"),
    "lifetime": ref(CACHE, "LifeTime"),
    "policy": ref(CACHE, "Policy"),
    "no_post_authorize": ref(CACHE, "DisablePostAuthorize"),
}
STORAGE = ref(CACHE, "Storage")


@dataclass(frozen=True)
class AuthSettings:
    enabled: bool = True
    authorize_remote_start: bool = True
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    offline_tx_for_unknown_id: bool = False
    disable_remote_authorization: bool = False
    master_pass_group_id: str | None = None
    cache_enabled: bool = True
    cache_lifetime_s: float = 86_400.0
    cache_policy: str = "LRU"
    cache_max_bytes: int = 1_000_000
    disable_post_authorize: bool = False


def token_key(token: IdTokenType) -> str:
    """Tokens compare without regard to case, within their type."""
    return f"{token.type}:{token.idToken.casefold()}"


class _Entry(msgspec.Struct):
    info: IdTokenInfoType
    last_used: float
    uses: int


class AuthCache:
    """The authorization cache (C10, C11), in the station's state folder: it outlives reboots."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db  # the station's database: its table is `cache`
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, entry BLOB NOT NULL)"
        )
        self._encode = msgspec.json.Encoder(enc_hook=enc_hook).encode
        self._decode = msgspec.json.Decoder(_Entry, dec_hook=dec_hook).decode

    def get(self, token: IdTokenType, now: float, lifetime_s: float) -> IdTokenInfoType | None:
        """The cached idTokenInfo, None when unknown or expired (an expired entry goes)."""
        key = token_key(token)
        row = self._db.execute("SELECT entry FROM cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        entry = self._decode(row[0])
        expiry = entry.info.cacheExpiryDateTime
        lapsed = entry.last_used + lifetime_s <= now
        if lapsed or (expiry is not msgspec.UNSET and expiry.timestamp() <= now):
            with transaction(self._db) as db:
                db.execute("DELETE FROM cache WHERE key = ?", (key,))
            return None
        return entry.info

    def used(self, token: IdTokenType, now: float) -> None:
        """The entry served a decision: it lives LifeTime from now, and counts as used."""
        key = token_key(token)
        row = self._db.execute("SELECT entry FROM cache WHERE key = ?", (key,)).fetchone()
        if row is not None:
            entry = self._decode(row[0])
            self._write(key, _Entry(entry.info, now, entry.uses + 1))

    def put(self, token: IdTokenType, info: IdTokenInfoType, now: float) -> None:
        key = token_key(token)
        row = self._db.execute("SELECT entry FROM cache WHERE key = ?", (key,)).fetchone()
        uses = 1 if row is None else self._decode(row[0]).uses + 1
        self._write(key, _Entry(info, now, uses))

    def _write(self, key: str, entry: _Entry) -> None:
        with transaction(self._db) as db:
            db.execute(
                "INSERT OR REPLACE INTO cache (key, entry) VALUES (?, ?)",
                (key, self._encode(entry)),
            )

    def evict(self, max_bytes: int, policy: str) -> int:
        """Drop entries by `policy` (LRU: least recently used; LFU: least often) until the cache
        holds `max_bytes` at most; returns the bytes it holds."""
        rows = self._db.execute("SELECT key, entry FROM cache").fetchall()
        entries = [(key, self._decode(blob), len(key) + len(blob)) for key, blob in rows]
        size = sum(n for _, _, n in entries)
        if size <= max_bytes:
            return size
        if policy == "LFU":
            entries.sort(key=lambda e: (e[1].uses, e[1].last_used))
        else:
            entries.sort(key=lambda e: e[1].last_used)
        with transaction(self._db) as db:
            for key, _, n in entries:
                if size <= max_bytes:
                    break
                db.execute("DELETE FROM cache WHERE key = ?", (key,))
                size -= n
        return size

    def clear(self) -> None:
        with transaction(self._db) as db:
            db.execute("DELETE FROM cache")

    def forget(self, token: IdTokenType) -> IdTokenInfoType | None:
        """Drop `token`'s entry (N10: the CSMS clears what the station knows of a customer);
        the idTokenInfo it held, if any."""
        key = token_key(token)
        row = self._db.execute("SELECT entry FROM cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        with transaction(self._db) as db:
            db.execute("DELETE FROM cache WHERE key = ?", (key,))
        return self._decode(row[0]).info


@dataclass(frozen=True)
class Decision:
    """What the station says of a token, and why."""

    status: AuthorizationStatusEnumType
    info: IdTokenInfoType | None = None  # the CSMS's or the cache's, if any
    master_pass: bool = False  # a master pass: stops every transaction, starts none


Authorize = Callable[[IdTokenType], Awaitable[IdTokenInfoType | None]]
"""Asks the CSMS; None when it cannot be asked or does not answer (the station is offline)."""


@dataclass
class Authorizer:
    """The rules of the module's doc; `authorize` reaches the CSMS."""

    cache: AuthCache
    authorize: Authorize
    settings: Callable[[], AuthSettings] = AuthSettings

    async def decide(self, token: IdTokenType, online: bool, now: float) -> Decision:
        settings = self.settings()
        if not settings.enabled:
            return Decision(Status.Accepted)
        cached = None
        if settings.cache_enabled:
            cached = self.cache.get(token, now, settings.cache_lifetime_s)
        if online:
            decision = await self._online(token, cached, settings, now)
            if decision is not None:
                return self._master_pass(decision, settings)
        return self._master_pass(self._offline(token, cached, settings, now), settings)

    async def _online(
        self,
        token: IdTokenType,
        cached: IdTokenInfoType | None,
        settings: AuthSettings,
        now: float,
    ) -> Decision | None:
        """None when the CSMS could not be asked after all: offline rules then."""
        # A cached refusal is asked about again (C12.FR.05), unless DisablePostAuthorize.
        final = cached is not None and (
            cached.status is Status.Accepted or settings.disable_post_authorize
        )
        if cached is not None and final and settings.local_pre_authorize:
            self.cache.used(token, now)
            return Decision(cached.status, cached)
        if settings.disable_remote_authorization:
            return Decision(Status.Unknown if cached is None else cached.status, cached)
        info = await self.authorize(token)
        if info is None:
            return None
        self.remember(token, info, now)
        return Decision(info.status, info)

    def _offline(
        self,
        token: IdTokenType,
        cached: IdTokenInfoType | None,
        settings: AuthSettings,
        now: float,
    ) -> Decision:
        if cached is None:
            if settings.offline_tx_for_unknown_id:
                return Decision(Status.Accepted)
            return Decision(Status.Unknown)
        if cached.status is Status.Accepted and settings.local_authorize_offline:
            self.cache.used(token, now)
            return Decision(Status.Accepted, cached)
        return Decision(cached.status, cached)

    @staticmethod
    def _master_pass(decision: Decision, settings: AuthSettings) -> Decision:
        group = decision.info.groupIdToken if decision.info is not None else msgspec.UNSET
        master = settings.master_pass_group_id
        if group is msgspec.UNSET or not master or decision.status is not Status.Accepted:
            return decision
        if group.idToken.casefold() != master.casefold():
            return decision
        return Decision(Status.Invalid, decision.info, master_pass=True)

    def remember(self, token: IdTokenType, info: IdTokenInfoType, now: float) -> int:
        """Cache the CSMS's word on `token` (C10.FR.01, .04, .05); returns the cache's bytes."""
        settings = self.settings()
        if not settings.cache_enabled:
            return -1
        self.cache.put(token, info, now)
        return self.cache.evict(settings.cache_max_bytes, settings.cache_policy)


def validation_result(decision: Decision) -> ValidationResult:
    """A decision as Auth's ValidationResult: the same status names, the group as parent."""
    info = decision.info
    if info is None:
        return ValidationResult(authorization_status=AuthorizationStatus(decision.status.value))
    expiry = info.cacheExpiryDateTime
    group = info.groupIdToken
    evse_ids = info.evseId
    return ValidationResult(
        authorization_status=AuthorizationStatus(decision.status.value),
        expiry_time=None if expiry is msgspec.UNSET else expiry.rfc3339(),
        parent_id_token=None
        if group is msgspec.UNSET
        else IdToken(value=group.idToken, type=EvseTokenType(group.type.value)),
        evse_ids=None if evse_ids is msgspec.UNSET else list(evse_ids),
    )


class AuthorizationBlock(Block):
    """Auth's validator on the CSMS's side; see the module's doc. The remote control block
    finds it with `AuthorizationBlock.of(station)`."""

    _of: ClassVar[weakref.WeakKeyDictionary[Station, AuthorizationBlock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        AuthorizationBlock._of[station] = self
        self._settings: AuthSettings | None = None
        self.cache = AuthCache(station.db)
        self.authorizer = Authorizer(self.cache, self._authorize, self.settings)
        station.validate_token = self.validate_token
        station.route("ClearCache", self._clear_cache)
        station.on_delivered("TransactionEvent", self._on_transaction_answer)
        for key in KEYS.values():
            station.model.watch(key, self._setting_changed)

    @classmethod
    def of(cls, station: Station) -> AuthorizationBlock:
        return cls._of[station]

    def settings(self) -> AuthSettings:
        if self._settings is None:
            model = self.station.model
            spec = model.spec(STORAGE)
            limit = spec.characteristics.max_limit if spec is not None else None
            self._settings = AuthSettings(
                enabled=model.get_bool(KEYS["enabled"]),
                authorize_remote_start=model.get_bool(KEYS["remote_start"]),
                local_authorize_offline=model.get_bool(KEYS["offline"]),
                local_pre_authorize=model.get_bool(KEYS["pre_authorize"]),
                offline_tx_for_unknown_id=model.get_bool(KEYS["unknown_offline"]),
                disable_remote_authorization=model.get_bool(KEYS["no_remote"]),
                master_pass_group_id=model.get(KEYS["master_pass"]) or None,
                cache_enabled=model.get_bool(KEYS["cache"]),
                cache_lifetime_s=model.get_float(KEYS["lifetime"]),
                cache_policy=model.get_str(KEYS["policy"]),
                cache_max_bytes=int(limit) if limit is not None else 1_000_000,
                disable_post_authorize=model.get_bool(KEYS["no_post_authorize"]),
            )
        return self._settings

    def _setting_changed(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> None:
        self._settings = None

    def _now(self) -> float:
        return TransactionsBlock.of(self.station).now()

    async def _authorize(self, token: IdTokenType) -> IdTokenInfoType | None:
        try:
            response: AuthorizeResponse = await self.station.call(AuthorizeRequest(idToken=token))
        except (NotConnectedError, CallTimeoutError, OcppError) as error:
            log.info("Authorize %s: no answer from the CSMS (%s)", token.idToken, error)
            return None
        return response.idTokenInfo

    async def decide(self, token: IdTokenType) -> Decision:
        """The station's word on `token` now (also for RequestStartTransaction)."""
        online = self.station.online.is_set()
        decision = await self.authorizer.decide(token, online, self._now())
        self._storage_changed()
        return decision

    async def validate_token(self, provided: ProvidedIdToken) -> ValidationResult:
        """Auth's `validate_token`: see the module's doc."""
        token = ocpp_id_token(provided)
        decision = await self.decide(token)
        if decision.master_pass:
            await self._stop_all()
        elif decision.status is Status.Accepted:
            self._before_plugin(provided, token)
        return validation_result(decision)

    def _before_plugin(self, provided: ProvidedIdToken, token: IdTokenType) -> None:
        """A token accepted with no EV plugged in where it may go: Auth keeps it until one
        comes. If only one EVSE can take it, its transaction may start now (E03)."""
        transactions = TransactionsBlock.of(self.station)
        core = transactions.core
        allowed = sorted(set(provided.connectors or ()) or {e.id for e in self.station.evses})
        if any(core.awaits_authorization(e) for e in allowed):
            return  # Auth hands it to that EV at once
        free = [e for e in allowed if core.free(e)]
        if len(free) == 1:
            core.on_authorized_before_plugin(free[0], token, None, transactions.now())

    async def _stop_all(self) -> None:
        transactions = TransactionsBlock.of(self.station)
        for evse in self.station.evses:
            if transactions.core.open_transaction(evse.id) is not None:
                await transactions.stop_transaction(evse.id, StopTransactionReason.MasterPass)

    def forget(self, token: IdTokenType) -> IdTokenInfoType | None:
        """Forget `token` (CustomerInformation with clear, N10); what the cache held of it."""
        info = self.cache.forget(token)
        self._storage_changed()
        return info

    async def _clear_cache(self, request: ClearCacheRequest) -> ClearCacheResponse:
        if not self.settings().cache_enabled:
            return ClearCacheResponse(status=ClearCacheStatusEnumType.Rejected)
        self.cache.clear()
        self._storage_changed()
        return ClearCacheResponse(status=ClearCacheStatusEnumType.Accepted)

    async def _on_transaction_answer(self, message: QueuedMessage, response: object) -> None:
        """C10.FR.05: the idTokenInfo of a TransactionEventResponse updates the cache."""
        if not isinstance(response, TransactionEventResponse):
            return
        info = response.idTokenInfo
        if info is msgspec.UNSET:
            return
        request = v201.decode_request("TransactionEvent", message.payload)
        assert isinstance(request, TransactionEventRequest)
        if request.idToken is not msgspec.UNSET:
            self.authorizer.remember(request.idToken, info, self._now())
            self._storage_changed()

    def _storage_changed(self) -> None:
        settings = self.settings()
        if settings.cache_enabled:
            size = self.cache.evict(settings.cache_max_bytes, settings.cache_policy)
            self.station.model.set(STORAGE, size)


BLOCK = AuthorizationBlock
