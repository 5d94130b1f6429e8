"""Filesystem facts: is a folder on a network filesystem whose file locks may silently lie?

On Lustre, GPFS, some NFS and CIFS mounts and many FUSE filesystems ``flock`` can succeed in two
processes at once, so a shared, deterministic ``<etag>.incomplete`` could be written by two
downloaders together (and truncated under the other when a server ignores ``Range``). There
hubcli writes process-unique partial files instead (as huggingface_hub does everywhere), at the
price of no resume across runs. The mount table is read from ``/proc/self/mountinfo`` (Linux);
elsewhere nothing is detected and the ``HUBCLI_PARTIALS`` setting decides.
"""

from __future__ import annotations

import os
from pathlib import Path

NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "gpfs",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "afs",
        "beegfs",
        "glusterfs",
        "9p",
        "pvfs2",
        "orangefs",
        "ocfs2",
        "gfs2",
    }
)
MOUNTINFO = Path("/proc/self/mountinfo")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and len(field[i + 1 : i + 4]) == 3:
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) for each line of a mountinfo table."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mounts.append((_unescape(fields[4]), right.split()[0]))
    return mounts


def fs_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The filesystem type of the mount holding ``path`` (its nearest existing parent)."""
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    # Resolve links in the part that exists; a folder still to be created is on its parent's mount.
    probe, tail = Path(os.path.abspath(path)), []
    while not probe.exists() and probe != probe.parent:
        tail.append(probe.name)
        probe = probe.parent
    try:
        real = os.path.join(os.path.realpath(probe), *reversed(tail))
    except OSError:
        real = os.path.join(str(probe), *reversed(tail))
    best, best_type = "", None
    for mount, kind in parse_mountinfo(mountinfo):
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, best_type = mount, kind
    return best_type


def is_network_fs(kind: str | None) -> bool:
    """True for filesystem types whose locks hubcli does not trust (network, cluster, FUSE)."""
    if not kind:
        return False
    return kind in NETWORK_FS_TYPES or kind.startswith("fuse.") or kind == "fuse"


def unique_partials(setting: str, folder: Path) -> bool:
    """Whether partial files under ``folder`` must be process-unique (see module docstring)."""
    if setting == "unique":
        return True
    if setting == "shared":
        return False
    return is_network_fs(fs_type(folder))
