"""The one exception tree of hubcli; every error knows its stable code, a hint and its exit code."""

from __future__ import annotations


class HubError(Exception):
    """Root of every error hubcli raises on purpose.

    ``code`` is a stable machine-readable string, ``exit_code`` the process exit status the CLI
    uses, ``hint`` an optional sentence telling the user what to do next.
    """

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(HubError):
    """Bad flags, bad repo id, bad glob: the user typed something we cannot act on."""

    code = "usage"
    exit_code = 2


class InvalidRepoIdError(UsageError):
    code = "invalid_repo_id"


class AuthError(HubError):
    """401 / 403 / gated / a write without a token."""

    code = "auth"
    exit_code = 3


class GatedRepoError(AuthError):
    code = "gated_repo"


class TokenMissingError(AuthError):
    code = "token_missing"


class NotFoundError(HubError):
    """Something named does not exist (repo, revision, file)."""

    code = "not_found"
    exit_code = 4


class RepoNotFoundError(NotFoundError):
    code = "repo_not_found"


class RevisionNotFoundError(NotFoundError):
    code = "revision_not_found"


class EntryNotFoundError(NotFoundError):
    code = "entry_not_found"

    def __init__(self, message: str, *, hint: str | None = None, commit: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.commit = commit


class NetworkError(HubError):
    """Connection refused, timeouts, 5xx after retries."""

    code = "network"
    exit_code = 5


class ServerError(NetworkError):
    code = "server_error"

    def __init__(self, message: str, *, hint: str | None = None, status: int = 0) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ProtocolError(NetworkError):
    """The server broke the protocol: a bad hash, path or size in a listing, a lying header,
    JSON of the wrong shape. Nothing from such an answer is written anywhere."""

    code = "protocol"


class HTTPStatusError(HubError):
    """A 4xx the Hub answered that has no more specific meaning: the server rejected the
    request as invalid (400, 405, 413, 422...)."""

    code = "http_error"
    exit_code = 10

    def __init__(self, message: str, *, hint: str | None = None, status: int = 0) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ConflictError(HTTPStatusError):
    """409 (exists) or 412 (the branch moved since the parent commit)."""

    code = "conflict"


class IntegrityError(HubError):
    """Hash mismatch, corrupt cache entry, unsafe path in a listing or bundle."""

    code = "integrity"
    exit_code = 6


class UnsafePathError(IntegrityError):
    code = "unsafe_path"


class OfflineError(HubError):
    """Offline mode and the requested thing is not in the cache."""

    code = "offline_miss"
    exit_code = 7


class LocalFileError(HubError):
    """A local filesystem problem (disk full, permission denied, missing input file)."""

    code = "local_io"
    exit_code = 8


class LockOutOfDateError(HubError):
    """The lock file no longer matches its input (``sync --locked``)."""

    code = "lock_out_of_date"
    exit_code = 9


EXIT_INTERRUPTED = 130


class Interrupted(HubError):
    """Ctrl-C: the message says what was interrupted and whether a rerun resumes."""

    code = "interrupted"
    exit_code = EXIT_INTERRUPTED


EXIT_CODES: list[tuple[int, str]] = [
    (0, "success"),
    (1, "a bug in hubcli (nothing else exits 1)"),
    (
        2,
        "usage error (bad flags, bad repo id, bad glob), "
        "or a locked file of a kind `[policy] deny` forbids",
    ),
    (3, "authentication or permission (401, 403, gated repo, missing token for a write)"),
    (4, "not found (repo, revision, file, a selection that matches nothing)"),
    (
        5,
        "network failure after retries (connection refused, timeouts, stalls, 5xx, 429), or a "
        "server that breaks the protocol (bad hashes, paths or sizes in a listing, lying headers)",
    ),
    (6, "integrity of local data or a bundle (hash mismatch, corrupt cache entry, bad bundle)"),
    (7, "offline and the requested thing is not in the cache"),
    (8, "local I/O or missing local input (disk full, unreadable file, missing path)"),
    (9, "the lock file is out of date with its input (sync --locked)"),
    (10, "conflict (409/412) or a request the server rejected as invalid (400/422)"),
    (130, "interrupted (Ctrl-C): partial work left resumable"),
]
