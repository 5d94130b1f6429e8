"""Signed CDN URLs of the local hub: the signing secret and the HMAC that binds a URL to one
repo, one LFS object and an expiry time.

The secret is random per process unless ``--secret-file`` names a file: created (mode 0600, a
random secret) when absent, read when present, so signed URLs stay valid across restarts and
replicas sharing the file accept each other's URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import time
from pathlib import Path

SECRET_HEX_CHARS = 64  # 32 random bytes, written as hex
MIN_SECRET_CHARS = 32


class SecretFileError(Exception):
    """The secret file cannot be used (unreadable, too short, readable by everyone)."""


def random_secret() -> bytes:
    return secrets.token_bytes(32)


def load_or_create_secret(path: str | Path) -> bytes:
    """Read the secret in ``path``; create the file (0600, random secret) when it is absent.

    Creation is atomic (a complete temp file is hard-linked into place), so replicas starting at
    once all end up with the one secret that won.
    """
    p = Path(path)
    if not p.exists():
        _create_secret_file(p)
    return _read_secret(p)


def _create_secret_file(p: Path) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(SECRET_HEX_CHARS // 2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, p)  # create-if-absent with the full content
        except FileExistsError:
            pass  # another process won the race: its secret is the one
        except OSError:  # no hard links on this filesystem: a plain rename, if still absent
            if not p.exists():
                os.rename(tmp, p)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _read_secret(p: Path) -> bytes:
    try:
        st = p.stat()
        text = p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SecretFileError(f"cannot read the secret file {p}: {e}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        raise SecretFileError(f"the secret file {p} is readable or writable by everyone")
    if len(text) < MIN_SECRET_CHARS:
        raise SecretFileError(f"the secret in {p} is shorter than {MIN_SECRET_CHARS} characters")
    return text.encode("utf-8")


class UrlSigner:
    """Mint and check ``exp`` + ``sig`` for a CDN URL of LFS object ``oid`` in repo ``repo_key``."""

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl

    def _mac(self, repo_key: str, oid: str, exp: int) -> str:
        msg = f"lfs-cdn\n{repo_key}\n{oid}\n{exp}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def sign(self, repo_key: str, oid: str, now: float | None = None) -> tuple[int, str]:
        exp = int((time.time() if now is None else now) + self.ttl)
        return exp, self._mac(repo_key, oid, exp)

    def check(
        self, repo_key: str, oid: str, exp: str | None, sig: str | None, now: float | None = None
    ) -> bool:
        """True only for an unexpired URL signed (with this secret) for this repo and object."""
        if not exp or not sig or not exp.isdigit() or len(exp) > 12:
            return False
        good = hmac.compare_digest(self._mac(repo_key, oid, int(exp)), sig)
        return good and int(exp) >= (time.time() if now is None else now)
