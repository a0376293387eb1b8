"""The oracle for tests: skipped without Java or `make interop` locally, never under CI."""

from __future__ import annotations

import os

import pytest

from .jvm import Oracle, shared
from .locate import InteropMissingError


def require_oracle() -> Oracle:
    """The session's shared oracle; a skip with the way to install it when it is missing.

    Under CI (the CI variable set) a missing oracle is an error: the interop suite must run there.
    """
    try:
        return shared()
    except InteropMissingError as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(missing))
