"""Byte sizes for humans: the one formatter and the one parser every command uses.

Output is in the Hub's decimal units (``532 B``, ``1.2 MB``, ``4.3 GB``: powers of 1000, as
huggingface.co shows file sizes). Input accepts decimal units (kB, MB, GB, TB, PB) and binary
units (KiB, MiB, GiB, TiB, PiB), case-insensitively; a bare number is bytes. A bare ``K``, ``M``,
``G``, ``T`` (or ``Mi``...) is refused: it could mean either, so the user is asked to write ``MB``
or ``MiB``. Every unit is bytes (``Mb`` is read as ``MB``; hubcli never takes bits).

Ground floor: imports nothing from hubcli, so any layer may use it.
"""

from __future__ import annotations

import re

DECIMAL_UNITS = ("kB", "MB", "GB", "TB", "PB")
"""The units :func:`human_size` prints, each 1000 times the one before (after ``B``)."""

_MULTIPLIERS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
_AMBIGUOUS = {"k": "kB", "m": "MB", "g": "GB", "t": "TB", "p": "PB"}
_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)")

SIZE_HELP = "bytes, or a number with kB, MB, GB, TB, PB (x1000) or KiB, MiB, GiB, TiB, PiB (x1024)"
"""How a size may be written, for option help and error messages."""


class SizeError(ValueError):
    """A size the user wrote that :func:`parse_size` cannot read (the message says why)."""


def human_size(n: int | float | None) -> str:
    """``532 B``, ``1.5 kB``, ``1.2 MB``, ``4.3 GB`` (decimal units); ``-`` for unknown."""
    if n is None:
        return "-"
    sign = "-" if n < 0 else ""
    value = abs(float(n))
    if round(value) < 1000:
        return f"{sign}{value:.0f} B"
    for unit in DECIMAL_UNITS:
        value /= 1000.0
        if value < 999.95:
            return f"{sign}{value:.1f} {unit}"
    return f"{sign}{value:.1f} {DECIMAL_UNITS[-1]}"


def human_rate(bytes_per_second: float) -> str:
    """A transfer rate in the same units: ``12.3 MB/s``."""
    return f"{human_size(bytes_per_second)}/s"


def parse_size(text: str | int) -> int:
    """``"500MB"`` -> 500_000_000, ``"2GiB"`` -> 2_147_483_648, ``"1024"`` -> 1024.

    Decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units, any letter case, an optional
    space before the unit; a bare number (or ``B``) is a whole number of bytes; fractions with a
    unit are rounded to the nearest byte. Raises :class:`SizeError` (a ValueError) otherwise,
    including for a bare ``M``/``G``/``K``/``T``, which could mean either unit.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise SizeError(f"A size cannot be negative: {text}.")
        return text
    raw = str(text)
    m = _SIZE_RE.fullmatch(raw.strip().lower())
    if m is None:
        raise SizeError(f"Cannot read the size {raw!r}: write {SIZE_HELP} (e.g. 500MB, 2GiB).")
    number, unit = m.groups()
    if unit in _AMBIGUOUS or unit in ("ki", "mi", "gi", "ti", "pi"):
        base = unit[0]
        raise SizeError(
            f"Ambiguous size {raw!r}: write {number}{_AMBIGUOUS[base]} (powers of 1000) "
            f"or {number}{base.upper()}iB (powers of 1024)."
        )
    multiplier = _MULTIPLIERS.get(unit)
    if multiplier is None:
        raise SizeError(f"Unknown unit in the size {raw!r}: write {SIZE_HELP}.")
    if multiplier == 1:
        if "." in number and float(number) != int(float(number)):
            raise SizeError(f"Cannot read the size {raw!r}: a number of bytes is whole.")
        return int(float(number))
    return round(float(number) * multiplier)


_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}
_AGE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)")
AGE_HELP = "a number with s, m, h, d, w, mo or y (e.g. 30d, 12h)"
"""How an age may be written, for option help and error messages."""


def parse_age(text: str) -> float:
    """``"30d"`` -> 2_592_000.0 seconds; ``s m h d w mo y`` (``m`` is minutes, ``mo`` 30 days);
    a bare number is seconds. Raises :class:`SizeError` (a ValueError) otherwise."""
    raw = str(text)
    m = _AGE_RE.fullmatch(raw.strip().lower())
    if m is None or m.group(2) not in ("", *_AGES):
        raise SizeError(f"Cannot read the age {raw!r}: {AGE_HELP}.")
    return float(m.group(1)) * _AGES.get(m.group(2), 1)


def parse_rate(text: str) -> int:
    """A transfer rate in bytes per second: a size (:func:`parse_size`), ``/s`` optional
    (``20MB``, ``20MB/s``, ``512KiB``). Zero is refused (it would never finish)."""
    raw = str(text).strip()
    body = raw[:-2] if raw.lower().endswith("/s") else raw
    rate = parse_size(body)
    if rate <= 0:
        raise SizeError(f"A rate must be more than 0 bytes per second: {raw!r}.")
    return rate
