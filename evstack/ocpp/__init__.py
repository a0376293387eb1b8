"""OCPP for a charging station: one subpackage per protocol version, as the OCA publishes them.

- `evstack.ocpp.errors`: the RPC error codes of OCPP-J, shared by every version.
- `evstack.ocpp.j`: OCPP-J (Part 4): framing, the one-call-in-flight rule, websockets, the
  security profiles.
- `evstack.ocpp.v201`: OCPP 2.0.1, on the types `ev-codegen ocpp-import` generates from the
  official JSON schemas into `evstack.generated.ocpp.v201`.

The `ocpp` package from PyPI is never imported here: it is the independent peer of the tests.
"""
