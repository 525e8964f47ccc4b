"""Sizes as people write them, for every place that reads one (the command line, VM
specifications and TOML configurations): below both ``armvirt.cli`` and ``armvirt.hv.config``."""
from __future__ import annotations


def parse_size(text: str) -> int:
    """'128M', '1G', '65536', '512K' → bytes (QEMU's -m accepts the same suffixes). Raises
    ValueError with a one-line message."""
    t = text.strip().upper()
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1 << (10 * ("KMGT".index(t[-1]) + 1))
        t = t[:-1]
    if t.endswith("I"):
        t = t[:-1]
    try:
        value = int(t, 0) * mult
    except ValueError:
        raise ValueError(f"not a size: {text!r} (try 128M or 1G)") from None
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value
