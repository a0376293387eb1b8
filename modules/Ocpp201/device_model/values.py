"""A variable's characteristics, and whether a value fits them (B05: Rejected if not).

Every attribute value is text on the wire (attributeValue); the dataType says how to read it:
integer and decimal numbers within minLimit and maxLimit, "true"/"false", RFC 3339 date-times,
an OptionList value from valuesList, and comma-separated SequenceList and MemberList values
whose members are in valuesList (MemberList: each at most once). For a string maxLimit is the
longest it may be, for a list the most characters of the whole value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from evstack.generated.ocpp.v201.datatypes import VariableCharacteristicsType
from evstack.generated.ocpp.v201.enums import DataEnumType
from evstack.generated.ocpp.values import DateTime

__all__ = ["Characteristics", "InvalidValueError", "parse_bool", "split_list"]


class InvalidValueError(ValueError):
    """A value that does not fit a variable's characteristics; the text says why."""


def split_list(value: str) -> list[str]:
    """The members of a SequenceList or MemberList value ("" is the empty list)."""
    return [item.strip() for item in value.split(",")] if value.strip() else []


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidValueError(f"{value!r} is not true or false")
    return lowered == "true"


@dataclass(frozen=True)
class Characteristics:
    data_type: DataEnumType
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] | None = None
    supports_monitoring: bool = False

    def wire(self) -> VariableCharacteristicsType:
        values = self.values_list
        return VariableCharacteristicsType(
            unit=msgspec.UNSET if self.unit is None else self.unit,
            dataType=self.data_type,
            minLimit=msgspec.UNSET if self.min_limit is None else self.min_limit,
            maxLimit=msgspec.UNSET if self.max_limit is None else self.max_limit,
            valuesList=msgspec.UNSET if values is None else ",".join(values),
            supportsMonitoring=self.supports_monitoring,
        )

    def check(self, value: str) -> None:
        """Raise `InvalidValueError` unless `value` fits; returns nothing, values stay text."""
        kind = self.data_type
        if kind is DataEnumType.integer:
            try:
                number = int(value.strip())
            except ValueError:
                raise InvalidValueError(f"{value!r} is not an integer") from None
            self._within(number)
        elif kind is DataEnumType.decimal:
            try:
                decimal = float(value.strip())
            except ValueError:
                raise InvalidValueError(f"{value!r} is not a decimal") from None
            if not math.isfinite(decimal):
                raise InvalidValueError(f"{value!r} is not a finite decimal")
            self._within(decimal)
        elif kind is DataEnumType.boolean:
            parse_bool(value)
        elif kind is DataEnumType.dateTime:
            try:
                DateTime.parse(value.strip())
            except ValueError:
                raise InvalidValueError(f"{value!r} is not an RFC 3339 date-time") from None
        elif kind is DataEnumType.OptionList:
            if self.values_list is not None and value not in self.values_list:
                raise InvalidValueError(f"{value!r} is not one of {', '.join(self.values_list)}")
            self._length(value)
        elif kind in (DataEnumType.SequenceList, DataEnumType.MemberList):
            members = split_list(value)
            if self.values_list is not None:
                strangers = [item for item in members if item not in self.values_list]
                if strangers:
                    raise InvalidValueError(f"{', '.join(strangers)}: not in the values list")
            if kind is DataEnumType.MemberList and len(set(members)) != len(members):
                raise InvalidValueError(f"{value!r} names a member twice")
            self._length(value)
        else:
            self._length(value)

    def _within(self, number: float) -> None:
        if self.min_limit is not None and number < self.min_limit:
            raise InvalidValueError(f"{number} is below the minimum {self.min_limit:g}")
        if self.max_limit is not None and number > self.max_limit:
            raise InvalidValueError(f"{number} is above the maximum {self.max_limit:g}")

    def _length(self, value: str) -> None:
        if self.max_limit is not None and len(value) > self.max_limit:
            raise InvalidValueError(f"longer than {self.max_limit:g} characters")
