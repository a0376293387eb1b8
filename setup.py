"""Only for what pyproject.toml cannot say: the cffi extensions built at install time."""

from setuptools import setup

setup(
    cffi_modules=[
        "ext/pilot/build_pilot.py:ffibuilder",
        "ext/exi/build_exi.py:ffibuilder",
    ]
)
