"""The CSMS's requests on the device model: GetVariables (B06), SetVariables (B05),
GetBaseReport (B07) and GetReport (B08), with NotifyReport's paging.

Each item of a GetVariables or SetVariables request is judged on its own, in order: an unknown
component (name, instance, EVSE and connector), an unknown variable, an attribute type the
variable does not have, a WriteOnly value read or a ReadOnly value written, a value that does
not fit the characteristics or that a block vetoes, each get their status; the attribute type
is Actual when omitted. Items beyond ItemsPerMessage are Rejected as TooManyElements (TC_B_08);
a request longer than BytesPerMessage is refused as a whole (FormatViolation).

A report is answered at once (Accepted, or NotSupported for SummaryInventory, EmptyResultSet
when nothing matches) and then sent as NotifyReport messages of `REPORT_PAGE` variables each,
seqNo from 0, tbc on all but the last; each waits for the CSMS's answer before the next.
"""

from __future__ import annotations

import logging

import msgspec

from evstack.generated.ocpp.v201.datatypes import (
    ComponentType,
    GetVariableDataType,
    GetVariableResultType,
    ReportDataType,
    SetVariableDataType,
    SetVariableResultType,
    StatusInfoType,
    VariableAttributeType,
    VariableType,
)
from evstack.generated.ocpp.v201.enums import (
    AttributeEnumType,
    ComponentCriterionEnumType,
    GenericDeviceModelStatusEnumType,
    GetVariableStatusEnumType,
    MutabilityEnumType,
    ReportBaseEnumType,
    SetVariableStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    GetBaseReportRequest,
    GetBaseReportResponse,
    GetReportRequest,
    GetReportResponse,
    GetVariablesRequest,
    GetVariablesResponse,
    NotifyReportRequest,
    SetVariablesRequest,
    SetVariablesResponse,
)
from evstack.ocpp import v201
from evstack.ocpp.errors import ErrorCode, OcppError

from ..blocks import Block
from ..station import Station
from .keys import ComponentKey, VariableKey, component_key, ref, variable_key
from .model import DeviceModel, VariableSpec
from .values import InvalidValueError

__all__ = ["REPORT_PAGE", "DeviceModelService"]

log = logging.getLogger(__name__)

REPORT_PAGE = 20  # variables per NotifyReport
ACTUAL = AttributeEnumType.Actual
_ADDITIONAL_INFO = 512
_WRITABLE = (MutabilityEnumType.ReadWrite, MutabilityEnumType.WriteOnly)


def _limit(model: DeviceModel, name: str, instance: str) -> int | None:
    key = ref("DeviceDataCtrlr", name, variable_instance=instance)
    return model.get_int(key) if model.spec(key) is not None else None


def _info(reason: str, detail: str = "") -> StatusInfoType:
    extra = detail[:_ADDITIONAL_INFO] if detail else msgspec.UNSET
    return StatusInfoType(reasonCode=reason, additionalInfo=extra)


class DeviceModelService(Block):
    """Serves GetVariables, SetVariables, GetBaseReport and GetReport."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self.model = station.model
        station.route("GetVariables", self.get_variables)
        station.route("SetVariables", self.set_variables)
        station.route("GetBaseReport", self.get_base_report)
        station.route("GetReport", self.get_report)
        clock = ref("ClockCtrlr", "DateTime")
        if self.model.spec(clock) is not None:
            self.model.live(clock, lambda: station.now().rfc3339())

    # -- finding variables ----------------------------------------------------------------

    def _lookup(
        self, key: VariableKey, attribute: AttributeEnumType
    ) -> tuple[VariableSpec | None, str | None]:
        """The variable's spec, or None and the status name that says why it is not there."""
        if not self.model.has_component(key.component):
            return None, "UnknownComponent"
        spec = self.model.spec(key)
        if spec is None:
            return None, "UnknownVariable"
        if spec.attribute(attribute) is None:
            return None, "NotSupportedAttributeType"
        return spec, None

    def _check_size(self, request: GetVariablesRequest | SetVariablesRequest, which: str) -> None:
        limit = _limit(self.model, "BytesPerMessage", which)
        if limit is not None and len(v201.encode(request)) > limit:
            raise OcppError(
                ErrorCode.FORMAT_VIOLATION, f"longer than BytesPerMessage[{which}] ({limit})"
            )

    # -- GetVariables ---------------------------------------------------------------------

    async def get_variables(self, request: GetVariablesRequest) -> GetVariablesResponse:
        self._check_size(request, "GetVariables")
        most = _limit(self.model, "ItemsPerMessage", "GetVariables")
        results = [
            self._get(item)
            if most is None or index < most
            else self._get_refused(item, _info("TooManyElements"))
            for index, item in enumerate(request.getVariableData)
        ]
        return GetVariablesResponse(getVariableResult=results)

    def _get_refused(
        self, item: GetVariableDataType, info: StatusInfoType
    ) -> GetVariableResultType:
        return GetVariableResultType(
            attributeStatus=GetVariableStatusEnumType.Rejected,
            attributeStatusInfo=info,
            attributeType=item.attributeType,
            component=item.component,
            variable=item.variable,
        )

    def _get(self, item: GetVariableDataType) -> GetVariableResultType:
        attribute = (
            ACTUAL if isinstance(item.attributeType, msgspec.UnsetType) else item.attributeType
        )
        spec, missing = self._lookup(variable_key(item.component, item.variable), attribute)
        if spec is None:
            assert missing is not None
            return GetVariableResultType(
                attributeStatus=GetVariableStatusEnumType(missing),
                attributeType=item.attributeType,
                component=item.component,
                variable=item.variable,
            )
        attribute_spec = spec.attribute(attribute)
        assert attribute_spec is not None
        if attribute_spec.mutability is MutabilityEnumType.WriteOnly:
            return self._get_refused(item, _info("WriteOnly"))
        value = self.model.get(spec.key, attribute)
        return GetVariableResultType(
            attributeStatus=GetVariableStatusEnumType.Accepted,
            attributeType=attribute,
            attributeValue="" if value is None else value,
            component=item.component,
            variable=item.variable,
        )

    # -- SetVariables ---------------------------------------------------------------------

    async def set_variables(self, request: SetVariablesRequest) -> SetVariablesResponse:
        self._check_size(request, "SetVariables")
        most = _limit(self.model, "ItemsPerMessage", "SetVariables")
        results = [
            self._set(item)
            if most is None or index < most
            else self._set_result(
                item, SetVariableStatusEnumType.Rejected, _info("TooManyElements")
            )
            for index, item in enumerate(request.setVariableData)
        ]
        return SetVariablesResponse(setVariableResult=results)

    def _set_result(
        self,
        item: SetVariableDataType,
        status: SetVariableStatusEnumType,
        info: StatusInfoType | msgspec.UnsetType = msgspec.UNSET,
    ) -> SetVariableResultType:
        attribute = (
            ACTUAL if isinstance(item.attributeType, msgspec.UnsetType) else item.attributeType
        )
        return SetVariableResultType(
            attributeType=attribute,
            attributeStatus=status,
            attributeStatusInfo=info,
            component=item.component,
            variable=item.variable,
        )

    def _set(self, item: SetVariableDataType) -> SetVariableResultType:
        attribute = (
            ACTUAL if isinstance(item.attributeType, msgspec.UnsetType) else item.attributeType
        )
        spec, missing = self._lookup(variable_key(item.component, item.variable), attribute)
        if spec is None:
            assert missing is not None
            return self._set_result(item, SetVariableStatusEnumType(missing))
        attribute_spec = spec.attribute(attribute)
        assert attribute_spec is not None
        if attribute_spec.mutability is MutabilityEnumType.ReadOnly:
            return self._set_result(item, SetVariableStatusEnumType.Rejected, _info("ReadOnly"))
        try:
            self.model.check_by_csms(spec.key, item.attributeValue)
        except InvalidValueError as error:
            return self._set_result(
                item, SetVariableStatusEnumType.Rejected, _info("InvalidValue", str(error))
            )
        self.model.write(spec.key, attribute, item.attributeValue)
        if spec.reboot_required:
            return self._set_result(item, SetVariableStatusEnumType.RebootRequired)
        return self._set_result(item, SetVariableStatusEnumType.Accepted)

    # -- reports --------------------------------------------------------------------------

    async def get_base_report(self, request: GetBaseReportRequest) -> GetBaseReportResponse:
        base = request.reportBase
        if base is ReportBaseEnumType.SummaryInventory:
            return GetBaseReportResponse(
                status=GenericDeviceModelStatusEnumType.NotSupported,
                statusInfo=_info("UnsupportedParam", "SummaryInventory is not supported"),
            )
        variables = self.model.variables()
        if base is ReportBaseEnumType.ConfigurationInventory:
            variables = [spec for spec in variables if _writable(spec)]
        self.station.start_task(self._report(request.requestId, variables))
        return GetBaseReportResponse(status=GenericDeviceModelStatusEnumType.Accepted)

    async def get_report(self, request: GetReportRequest) -> GetReportResponse:
        if not isinstance(request.componentVariable, msgspec.UnsetType):
            most = _limit(self.model, "ItemsPerMessage", "GetReport")
            if most is not None and len(request.componentVariable) > most:
                return GetReportResponse(
                    status=GenericDeviceModelStatusEnumType.Rejected,
                    statusInfo=_info("TooManyElements"),
                )
        variables = [spec for spec in self.model.variables() if self._selected(request, spec)]
        if not variables:
            return GetReportResponse(status=GenericDeviceModelStatusEnumType.EmptyResultSet)
        self.station.start_task(self._report(request.requestId, variables))
        return GetReportResponse(status=GenericDeviceModelStatusEnumType.Accepted)

    def _selected(self, request: GetReportRequest, spec: VariableSpec) -> bool:
        wanted = request.componentVariable
        if not isinstance(wanted, msgspec.UnsetType) and not any(
            _matches(item.component, item.variable, spec.key) for item in wanted
        ):
            return False
        criteria = request.componentCriteria
        if isinstance(criteria, msgspec.UnsetType):
            return True
        return any(self._meets(spec.key.component, criterion) for criterion in criteria)

    def _meets(self, component: ComponentKey, criterion: ComponentCriterionEnumType) -> bool:
        """Whether `component` has the criterion's variable (Active, Enabled...) set true; an
        Available or Enabled component that does not say otherwise is taken as such."""
        key = VariableKey(component, str(criterion))
        if self.model.spec(key) is None:
            return criterion in (
                ComponentCriterionEnumType.Available,
                ComponentCriterionEnumType.Enabled,
            )
        return self.model.get(key) == "true"

    async def _report(self, request_id: int, variables: list[VariableSpec]) -> None:
        pages = [variables[i : i + REPORT_PAGE] for i in range(0, len(variables), REPORT_PAGE)]
        generated = self.station.now()
        for seq_no, page in enumerate(pages):
            report = NotifyReportRequest(
                requestId=request_id,
                generatedAt=generated,
                reportData=[self._report_data(spec) for spec in page],
                tbc=seq_no < len(pages) - 1,
                seqNo=seq_no,
            )
            try:
                await self.station.call(report)
            except (ConnectionError, TimeoutError, OcppError) as error:
                log.warning("report %d stopped at part %d: %s", request_id, seq_no, error)
                return

    def _report_data(self, spec: VariableSpec) -> ReportDataType:
        attributes = []
        for attribute in spec.attributes:
            value = self.model.get(spec.key, attribute.type)
            if attribute.mutability is MutabilityEnumType.WriteOnly:
                value = None
            attributes.append(
                VariableAttributeType(
                    type=attribute.type,
                    value=msgspec.UNSET if value is None else value,
                    mutability=attribute.mutability,
                    persistent=attribute.persistent,
                    constant=attribute.constant,
                )
            )
        return ReportDataType(
            component=spec.key.component.wire(),
            variable=spec.key.wire(),
            variableAttribute=attributes,
            variableCharacteristics=spec.characteristics.wire(),
        )


def _writable(spec: VariableSpec) -> bool:
    return any(attribute.mutability in _WRITABLE for attribute in spec.attributes)


def _matches(
    component: ComponentType, variable: VariableType | msgspec.UnsetType, key: VariableKey
) -> bool:
    """Whether a GetReport ComponentVariable names `key`: the fields it leaves out match all."""
    wanted = component_key(component)
    have = key.component
    if wanted.name != have.name:
        return False
    if isinstance(component.instance, str) and wanted.instance != have.instance:
        return False
    if not isinstance(component.evse, msgspec.UnsetType):
        if wanted.evse != have.evse:
            return False
        if wanted.connector is not None and wanted.connector != have.connector:
            return False
    if not isinstance(variable, msgspec.UnsetType):
        if variable.name != key.name:
            return False
        if isinstance(variable.instance, str) and variable.instance != key.instance:
            return False
    return True
