"""EXI codec generation: XSD importer (`xsd`), grammar derivation (`grammar`), `importer`.

`python -m evstack.codegen.exi --xsd-dir DIR` re-derives `generated/exi/*.json` from the
official schemas; everything else in evstack reads only those derived tables.
"""
