"""Split the hypervisor's physical console into its sources.

The firmware writes every line to the board's UART with a tag (``firmware/lib/console.S``,
``firmware/host/mmio.S``): ``[hv] text`` for its own messages, ``[name] text`` for a line a VM
wrote to its virtual PL011, ``[name]~ text`` for a partial line (a full buffer, or what was
left when the VM stopped) whose newline is not the VM's. :class:`ConsoleDemux` turns the byte
stream back into per-source output; bytes outside that format (a VM without stage 2 writes the
physical UART directly) go to the ``untagged`` sink.
"""
from __future__ import annotations

import re
from typing import Callable

from armvirt.hv import abi

Sink = Callable[[bytes], None]
_LINE = re.compile(rb"^\[([A-Za-z0-9_.-]{1,15})\](~?) (.*)\n\Z", re.S)


class ConsoleDemux:
    """Feed it the UART's bytes; it calls ``sinks[tag](data)`` per line (``hv`` included) and
    ``untagged(data)`` for anything else. A tag without a sink goes to ``untagged`` as is."""

    def __init__(self, sinks: dict[str, Sink], untagged: Sink):
        self.sinks = sinks
        self.untagged = untagged
        self._pending = b""

    def feed(self, data: bytes) -> None:
        buf = self._pending + data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            self._line(buf[start:nl + 1])
            start = nl + 1
        self._pending = buf[start:]

    def flush(self) -> None:
        """End of the run: what is left without a newline goes out untagged."""
        if self._pending:
            self.untagged(self._pending)
            self._pending = b""

    def _line(self, line: bytes) -> None:
        m = _LINE.match(line)
        sink = self.sinks.get(m.group(1).decode()) if m else None
        if m is None or sink is None:
            self.untagged(line)
            return
        text = m.group(3)
        sink(text if m.group(2) else text + b"\n")


def prefixed(tag: str, out: Sink) -> Sink:
    """A sink that writes a source's output with ``[tag] `` at the start of each of its lines."""
    prefix = f"[{tag}] ".encode()
    at_start = True

    def sink(data: bytes) -> None:
        nonlocal at_start
        if at_start:
            data = prefix + data
        at_start = data.endswith(b"\n")
        out(data)
    return sink


__all__ = ["ConsoleDemux", "prefixed", "Sink", "HV_TAG"]
HV_TAG = abi.HV_TAG
