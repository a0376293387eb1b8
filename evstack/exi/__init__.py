"""EXI for V2G."""
