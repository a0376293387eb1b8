"""Certificate management (use cases A02, A03, A05, M03, M04, M05): the CSMS's requests about
certificates, served from the store (`certificate_store`), and the renewal of the station's own.

- InstallCertificate: Accepted, Rejected for a certificate that may not be a root (not a CA,
  out of its period, a bad self-signature, not one PEM certificate), Failed when the store is
  full. Installing needs no particular security profile: upgrading from profile 1 to 2 needs a
  CSMS root installed over the profile-1 connection first (A05.FR.02, TC_A_19).
- DeleteCertificate: Accepted, NotFound, or Failed for the station's own certificates and
  their sub-CAs (M04.FR.06) and, under TLS, for the last CSMS root (the station could never
  connect again).
- GetInstalledCertificateIds: the hash data of the roots of the asked types and of the V2G
  certificate chain; NotFound when there is none.
- Renewal (A02, A03): TriggerMessage(SignChargingStationCertificate or SignV2GCertificate) makes
  a new key and CSR and sends SignCertificateRequest; an accepted one waits for
  CertificateSigned (see `security.Renewal` for the resends). A signed chain that is not for the
  CSR's key, out of its period or not issued under an installed root of the right type
  (CSMS roots for the ChargingStationCertificate, V2G roots for the V2GCertificate) is Rejected
  with the security event InvalidChargingStationCertificate.
- The link's credentials come from the store: the CSMS roots TLS trusts and the station
  certificate of security profile 3, each taken from the next connection attempt on. At the
  first start the module config's certificate files are taken into the store.
- NetworkConfigurationPriority may only name TLS slots while a valid CSMS root (and, for
  profile 3, a valid station certificate) is installed (A05.FR.02/03).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import weakref
from collections.abc import Coroutine
from typing import Any

import msgspec

from evstack.generated.ocpp.v201.datatypes import StatusInfoType
from evstack.generated.ocpp.v201.enums import (
    CertificateSignedStatusEnumType,
    CertificateSigningUseEnumType,
    GenericStatusEnumType,
    GetInstalledCertificateStatusEnumType,
    InstallCertificateStatusEnumType,
    InstallCertificateUseEnumType,
    MessageTriggerEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    CertificateSignedRequest,
    CertificateSignedResponse,
    DeleteCertificateRequest,
    DeleteCertificateResponse,
    GetInstalledCertificateIdsRequest,
    GetInstalledCertificateIdsResponse,
    InstallCertificateRequest,
    InstallCertificateResponse,
    SignCertificateRequest,
    SignCertificateResponse,
)
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError

from .blocks import Block
from .certificate_store import CertificateError, CertificateStore
from .device_model import InvalidValueError, ref, split_list
from .link import CredentialFiles
from .security import Renewal, Security, SecurityEvent, refuse_priority
from .station import Station, Trigger

__all__ = ["BLOCK", "Certificates"]

log = logging.getLogger(__name__)

OwnUse = CertificateSigningUseEnumType
RootUse = InstallCertificateUseEnumType

WAIT_MINIMUM = ref("SecurityCtrlr", "CertSigningWaitMinimum")
REPEAT_TIMES = ref("SecurityCtrlr", "CertSigningRepeatTimes")
ORGANIZATION = ref("SecurityCtrlr", "OrganizationName")
ENTRIES = ref("SecurityCtrlr", "CertificateEntries")
IDENTITY = ref("SecurityCtrlr", "Identity")
SECURITY_PROFILE = ref("SecurityCtrlr", "SecurityProfile")
PRIORITY = ref("OCPPCommCtrlr", "NetworkConfigurationPriority")
_IMPORTED = "certificates/imported"
_TRIGGERS = {
    MessageTriggerEnumType.SignChargingStationCertificate: OwnUse.ChargingStationCertificate,
    MessageTriggerEnumType.SignV2GCertificate: OwnUse.V2GCertificate,
}
_BLOCKS: weakref.WeakKeyDictionary[Station, Certificates] = weakref.WeakKeyDictionary()


def _info(reason: str, detail: str = "") -> StatusInfoType:
    return StatusInfoType(
        reasonCode=reason[:20], additionalInfo=detail[:512] if detail else msgspec.UNSET
    )


class Certificates(Block):
    """The certificate requests and the station certificate's renewal (see the doc)."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        _BLOCKS[station] = self
        entries = station.model.spec(ENTRIES)
        limit = None if entries is None else entries.characteristics.max_limit
        self.store = CertificateStore(
            station.state_dir / "certificates", max_roots=32 if limit is None else int(limit)
        )
        self.renewals = {use: Renewal() for use in OwnUse}
        self._wake = asyncio.Event()
        self._take_config_files()
        self._update_link()
        station.route("InstallCertificate", self._install)
        station.route("DeleteCertificate", self._delete)
        station.route("GetInstalledCertificateIds", self._installed)
        station.route("CertificateSigned", self._signed)
        for message, use in _TRIGGERS.items():
            station.register_trigger(message, self._trigger(use))
        station.model.veto(PRIORITY, self._check_priority)
        # A staged certificate may have become valid: the next attempt looks again.
        station.on_connection(lambda up: None if up else self._update_link())
        station.on_connect_failed(lambda profile, failure: self._update_link())

    @staticmethod
    def of(station: Station) -> Certificates:
        """The station's certificate block (firmware checks signing certificates with it)."""
        return _BLOCKS[station]

    async def start(self) -> None:
        self.station.start_task(self._timers())

    # -- the store and the link ---------------------------------------------------------------

    def _take_config_files(self) -> None:
        """At the first start, the config's CSMS roots and station certificate."""
        station = self.station
        if station.state.get(_IMPORTED, bool) or station.link is None:
            return
        files = station.link.files
        try:
            if files.csms_root_certificates is not None:
                pem = files.csms_root_certificates.read_bytes()
                self.store.import_roots(RootUse.CSMSRootCertificate, pem)
            if files.station_certificate is not None and files.station_key is not None:
                self.store.import_own(
                    OwnUse.ChargingStationCertificate,
                    files.station_certificate.read_bytes(),
                    files.station_key.read_bytes(),
                )
        except (OSError, CertificateError) as error:
            log.error("the config's certificate files cannot be taken: %s", error)
        station.state.put(_IMPORTED, True)

    def _update_link(self) -> None:
        """The link's credentials, as the store has them now (the next attempt uses them)."""
        station = self.station
        own = self.store.own(OwnUse.ChargingStationCertificate, station.now())
        if station.link is not None:
            station.link.update_credentials(
                CredentialFiles(
                    csms_root_certificates=self.store.csms_roots(),
                    station_certificate=own[0] if own else None,
                    station_key=own[1] if own else None,
                )
            )
        if station.model.spec(ENTRIES) is not None:
            count = sum(len(self.store.roots(use)) for use in RootUse)
            station.model.set(ENTRIES, count)

    def file_tls(self) -> ssl.SSLContext:
        """TLS for file transfers (firmware, logs): the system's trust store and the CSMS
        roots, which an operator's own file server is likely to use."""
        context = ssl.create_default_context()
        roots = self.store.csms_roots()
        if roots is not None:
            context.load_verify_locations(cafile=roots)
        return context

    def valid_csms_root(self) -> bool:
        return self.store.has_valid_root(RootUse.CSMSRootCertificate, self.station.now())

    def valid_station_certificate(self) -> bool:
        return self.store.has_valid_own(OwnUse.ChargingStationCertificate, self.station.now())

    def _check_priority(self, value: str) -> None:
        link = self.station.link
        if link is None:
            return
        slots = link.profiles.all()
        profiles = [
            slots[int(slot)].securityProfile
            for slot in split_list(value)
            if slot.isdigit() and int(slot) in slots
        ]
        reason = refuse_priority(
            profiles,
            csms_root=self.valid_csms_root(),
            station_certificate=self.valid_station_certificate(),
        )
        if reason is not None:
            raise InvalidValueError(reason)

    # -- M03, M04, M05 --------------------------------------------------------------------------

    async def _install(self, request: InstallCertificateRequest) -> InstallCertificateResponse:
        try:
            self.store.install(request.certificateType, request.certificate, self.station.now())
        except CertificateError as error:
            log.warning("InstallCertificate %s refused: %s", request.certificateType, error)
            status = (
                InstallCertificateStatusEnumType.Failed
                if error.reason == "StorageFull"
                else InstallCertificateStatusEnumType.Rejected
            )
            return InstallCertificateResponse(
                status=status, statusInfo=_info(error.reason, str(error))
            )
        self._update_link()
        return InstallCertificateResponse(status=InstallCertificateStatusEnumType.Accepted)

    async def _delete(self, request: DeleteCertificateRequest) -> DeleteCertificateResponse:
        under_tls = self.station.model.get_int(SECURITY_PROFILE) >= 2
        status = self.store.delete(request.certificateHashData, keep_last_csms_root=under_tls)
        self._update_link()
        return DeleteCertificateResponse(status=status)

    async def _installed(
        self, request: GetInstalledCertificateIdsRequest
    ) -> GetInstalledCertificateIdsResponse:
        types = (
            None
            if isinstance(request.certificateType, msgspec.UnsetType)
            else request.certificateType
        )
        found = self.store.installed(types)
        if not found:
            return GetInstalledCertificateIdsResponse(
                status=GetInstalledCertificateStatusEnumType.NotFound
            )
        return GetInstalledCertificateIdsResponse(
            status=GetInstalledCertificateStatusEnumType.Accepted, certificateHashDataChain=found
        )

    # -- A02, A03 -------------------------------------------------------------------------------

    def _trigger(self, use: OwnUse) -> Trigger:
        def trigger(evse: int | None, connector: int | None) -> Coroutine[Any, Any, None]:
            self.renewals[use].start()
            return self._send_csr(use)

        return trigger

    async def _send_csr(self, use: OwnUse) -> None:
        station, renewal = self.station, self.renewals[use]
        identity = station.model.get(IDENTITY) if station.model.spec(IDENTITY) else None
        organization = station.model.get(ORGANIZATION) if station.model.spec(ORGANIZATION) else None
        csr = self.store.new_csr(use, identity or station.station_id, organization)
        try:
            response: SignCertificateResponse = await station.call(
                SignCertificateRequest(csr=csr, certificateType=use)
            )
        except (NotConnectedError, CallTimeoutError, OcppError) as error:
            log.warning("SignCertificateRequest (%s) failed: %s", use, error)
            renewal.answered(False, station.clock.now(), 0.0)
            return
        accepted = response.status is GenericStatusEnumType.Accepted
        renewal.answered(accepted, station.clock.now(), station.model.get_float(WAIT_MINIMUM))
        self._wake.set()

    async def _timers(self) -> None:
        """Resend a CSR whose certificate did not come in time (A02.FR.17/18)."""
        station = self.station
        while True:
            deadlines = [r.deadline for r in self.renewals.values() if r.deadline is not None]
            self._wake.clear()
            if deadlines:
                delay = (min(deadlines) - station.clock.now()) / station.clock.speedup
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(delay, 0.0)):
                        await self._wake.wait()
            else:
                await self._wake.wait()
            repeat = station.model.get_int(REPEAT_TIMES)
            for use, renewal in self.renewals.items():
                if renewal.expired(station.clock.now(), repeat):
                    log.info("no certificate for the %s CSR in time: a new one", use)
                    await self._send_csr(use)

    async def _signed(self, request: CertificateSignedRequest) -> CertificateSignedResponse:
        use = (
            OwnUse.ChargingStationCertificate
            if isinstance(request.certificateType, msgspec.UnsetType)
            else request.certificateType
        )
        try:
            self.store.accept_signed(use, request.certificateChain, self.station.now())
        except CertificateError as error:
            log.warning("CertificateSigned (%s) refused: %s", use, error)
            Security.of(self.station).raise_event(
                SecurityEvent.INVALID_CHARGING_STATION_CERTIFICATE, f"{use}: {error}"
            )
            return CertificateSignedResponse(
                status=CertificateSignedStatusEnumType.Rejected,
                statusInfo=_info(error.reason, str(error)),
            )
        self.renewals[use].signed()
        self._wake.set()
        self._update_link()
        Security.of(self.station).raise_event(
            SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS, f"new {use}"
        )
        return CertificateSignedResponse(status=CertificateSignedStatusEnumType.Accepted)


BLOCK = Certificates
