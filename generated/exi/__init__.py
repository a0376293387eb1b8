"""EXI grammar tables derived from the official V2G schemas by `python -m evstack.codegen.exi`.

Never edit by hand: re-run the importer. One JSON table per schema set id.
"""
