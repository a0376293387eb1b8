"""The Example module; the class lives in `module.py`."""
