"""How a component and a variable are named: the keys of the device model.

A component is a name and an optional instance, and belongs to the station, to one EVSE or to
one connector of an EVSE (Part 2, "Components"); a variable is a name and an optional instance
within its component. `ref(...)` builds a key the way blocks write them:

    HEARTBEAT_INTERVAL = ref("OCPPCommCtrlr", "HeartbeatInterval")
    ATTEMPTS = ref("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent")
    ref("Connector", "AvailabilityState", evse=1, connector=1)
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from evstack.generated.ocpp.v201.datatypes import ComponentType, EVSEType, VariableType

__all__ = ["ComponentKey", "VariableKey", "component_key", "ref", "variable_key"]


@dataclass(frozen=True, order=True)
class ComponentKey:
    name: str
    instance: str | None = None
    evse: int | None = None  # None: the station's own component
    connector: int | None = None  # only with an evse

    def wire(self) -> ComponentType:
        """As a ComponentType of a message."""
        evse = (
            msgspec.UNSET
            if self.evse is None
            else EVSEType(
                id=self.evse,
                connectorId=msgspec.UNSET if self.connector is None else self.connector,
            )
        )
        instance = msgspec.UNSET if self.instance is None else self.instance
        return ComponentType(name=self.name, instance=instance, evse=evse)

    def __str__(self) -> str:
        text = self.name if self.instance is None else f"{self.name}[{self.instance}]"
        if self.evse is not None:
            text += f"@{self.evse}" if self.connector is None else f"@{self.evse}.{self.connector}"
        return text


@dataclass(frozen=True, order=True)
class VariableKey:
    component: ComponentKey
    name: str
    instance: str | None = None

    def wire(self) -> VariableType:
        """As a VariableType of a message."""
        return VariableType(
            name=self.name, instance=msgspec.UNSET if self.instance is None else self.instance
        )

    def __str__(self) -> str:
        text = f"{self.component}.{self.name}"
        return text if self.instance is None else f"{text}[{self.instance}]"


def ref(
    component: str,
    variable: str,
    *,
    instance: str | None = None,
    evse: int | None = None,
    connector: int | None = None,
    variable_instance: str | None = None,
) -> VariableKey:
    """The key of a variable; `instance` is the component's, `variable_instance` the variable's."""
    component_key = ComponentKey(component, instance, evse, connector)
    return VariableKey(component_key, variable, variable_instance)


def component_key(component: ComponentType) -> ComponentKey:
    """The key a message's ComponentType names."""
    evse = component.evse
    evse_id = connector = None
    if not isinstance(evse, msgspec.UnsetType):
        evse_id = evse.id
        connector = None if isinstance(evse.connectorId, msgspec.UnsetType) else evse.connectorId
    instance = None if isinstance(component.instance, msgspec.UnsetType) else component.instance
    return ComponentKey(component.name, instance, evse_id, connector)


def variable_key(component: ComponentType, variable: VariableType) -> VariableKey:
    """The key a message's ComponentType and VariableType name."""
    instance = None if isinstance(variable.instance, msgspec.UnsetType) else variable.instance
    return VariableKey(component_key(component), variable.name, instance)
