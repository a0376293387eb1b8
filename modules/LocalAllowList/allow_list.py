"""The local allow list: which cards may charge when no backend is asked.

Tokens compare without regard to case, as OCPP defines id tokens. The list comes from the
module config as one string (``"AABBCCDD, 11223344"``) so that a charger needs no extra file
for the simple case; a bad entry is refused at start-up rather than silently never matching.
"""

from __future__ import annotations

import re

MAX_TOKEN_LENGTH = 36


class AllowList:
    def __init__(self, tokens: str) -> None:
        entries = [t for t in re.split(r"[\s,;]+", tokens) if t]
        for entry in entries:
            if len(entry) > MAX_TOKEN_LENGTH or not entry.isascii() or not entry.isprintable():
                raise ValueError(f"allow-list entry {entry!r} is not a valid id token")
        self._tokens = frozenset(t.casefold() for t in entries)

    def __contains__(self, token: str) -> bool:
        return token.casefold() in self._tokens

    def __len__(self) -> int:
        return len(self._tokens)
