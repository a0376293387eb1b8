"""API tokens with scopes, stored hashed, and the command line that manages them.

A token is 32 random bytes (URL-safe base64) shown once when it is made; the file keeps only
its SHA-256. A random 256-bit secret needs no slow password hash: nobody can guess it from
its digest, and a plain digest lets every request find its token in one dictionary look-up.
The file is rewritten whole (a temporary file renamed over it, mode 0600), and the server
reads it again whenever it changes, so a revoked token stops working at once.

    python -m evstack.modules.ApiServer.tokens --file var/state/api/tokens.json add kiosk read
    python -m evstack.modules.ApiServer.tokens --file ... list
    python -m evstack.modules.ApiServer.tokens --file ... revoke kiosk
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import os
import secrets
from pathlib import Path

import click
import msgspec


class Scope(enum.IntEnum):
    """What a token may do; each scope includes those below it."""

    read = 1  # the EVSEs, the history, the live events
    operate = 2  # start, stop, pause, resume, limit, and the simulated EVs
    admin = 3  # enable and disable EVSEs


class StoredToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    scope: str
    sha256: str
    created_at: str


class TokenFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tokens: list[StoredToken] = []


class TokenError(ValueError):
    """A token file or a request to change it that cannot be carried out."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The tokens in `path`; a missing file holds none (every request is refused)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._by_digest: dict[str, tuple[str, Scope]] = {}

    def check(self, token: str) -> tuple[str, Scope] | None:
        """The token's name and scope, or None for a token the file does not hold."""
        self._reload_if_changed()
        return self._by_digest.get(digest(token))

    def _reload_if_changed(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._by_digest = None, {}
            return
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)  # renamed over: new inode
        if stamp != self._stamp:
            self._by_digest = {t.sha256: (t.name, Scope[t.scope]) for t in self.load().tokens}
            self._stamp = stamp

    def load(self) -> TokenFile:
        try:
            file = msgspec.json.decode(self.path.read_bytes(), type=TokenFile)
        except FileNotFoundError:
            return TokenFile()
        except msgspec.DecodeError as error:
            raise TokenError(f"{self.path}: {error}") from None
        for token in file.tokens:
            if token.scope not in Scope.__members__:
                raise TokenError(f"{self.path}: token {token.name!r} has no scope {token.scope!r}")
        return file

    def add(self, name: str, scope: Scope) -> str:
        """Make a token; returns the secret, which is not kept anywhere."""
        tokens = self.load().tokens
        if any(t.name == name for t in tokens):
            raise TokenError(f"there is a token named {name!r} already")
        secret = secrets.token_urlsafe(32)
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self._save([*tokens, StoredToken(name, scope.name, digest(secret), now)])
        return secret

    def revoke(self, name: str) -> None:
        tokens = self.load().tokens
        kept = [t for t in tokens if t.name != name]
        if len(kept) == len(tokens):
            raise TokenError(f"no token named {name!r}")
        self._save(kept)

    def _save(self, tokens: list[StoredToken]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(msgspec.json.format(msgspec.json.encode(TokenFile(tokens))))
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)


@click.group()
@click.version_option(package_name="evstack")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The module's tokens file (tokens.json in its state folder unless tokens_file says); "
    "needed by every command.",
)
@click.pass_context
def main(context: click.Context, path: Path | None) -> None:
    """Manage the ApiServer module's API tokens."""
    # Checked by the commands, not here: `add --help` must work without a file.
    context.obj = path


def _store(context: click.Context) -> TokenStore:
    if context.obj is None:
        raise click.UsageError("--file is needed (before the command)")
    return TokenStore(context.obj)


@main.command()
@click.argument("name")
@click.argument("scope", type=click.Choice([s.name for s in Scope]))
@click.pass_context
def add(context: click.Context, name: str, scope: str) -> None:
    """Make a token NAME with SCOPE and print it: it is shown this once."""
    store = _store(context)
    try:
        click.echo(store.add(name, Scope[scope]))
    except TokenError as error:
        raise click.ClickException(str(error)) from None


@main.command(name="list")
@click.pass_context
def list_tokens(context: click.Context) -> None:
    """Print the tokens' names, scopes and dates (never the tokens)."""
    try:
        tokens = _store(context).load().tokens
    except TokenError as error:
        raise click.ClickException(str(error)) from None
    for token in tokens:
        click.echo(f"{token.name}\t{token.scope}\t{token.created_at}")


@main.command()
@click.argument("name")
@click.pass_context
def revoke(context: click.Context, name: str) -> None:
    """Delete the token NAME; a running server refuses it from its next request on."""
    store = _store(context)
    try:
        store.revoke(name)
    except TokenError as error:
        raise click.ClickException(str(error)) from None


if __name__ == "__main__":
    main()
