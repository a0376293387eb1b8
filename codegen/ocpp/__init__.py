"""OCPP message types from the OCA's JSON schemas: `ev-codegen ocpp-import`.

`schema` reads one version's schemas into a model, `render` writes the Python package
and the Markdown pages, `importer` knows the versions and where their schemas are. Only
this step reads the schemas; evstack reads what it derived, under `generated/ocpp/`.
"""
