"""Split the hypervisor's physical console into its sources.

The firmware writes every line to the board's UART with a tag (``firmware/lib/console.S``,
``firmware/host/mmio.S``): ``[hv] text`` for its own messages, ``[name] text`` for a line a VM
wrote to its virtual PL011, ``[name]~ text`` for a partial line (a full buffer, or what was
left when the VM stopped) whose newline is not the VM's. :class:`ConsoleDemux` turns the byte
stream back into per-source output; bytes outside that format (a VM without stage 2 writes the
physical UART directly) go to the ``untagged`` sink.

The hypervisor's own messages are rate-limited: a message identical to the one before it is
counted, not repeated, and the count is reported once another message comes or the run ends
(``[hv] (last message repeated N times)``, as syslog does) — a guest faulting in a loop would
otherwise print the same line a million times a minute.
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
        self._last_hv: bytes | None = None    # the last [hv] message, for rate limiting
        self._repeats = 0

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

    def flush(self, unsent: dict[str, bytes] | None = None) -> None:
        """End of the run: the count of a repeated [hv] message; ``unsent``, what each VM had
        printed of a line the firmware had not sent yet when the run stopped (interrupted:
        :func:`armvirt.hv.launch.unsent_output`), to its sink — the firmware's line being sent
        at that moment, if it was that VM's, is dropped, being a prefix of it; then what is
        left without a newline goes out untagged."""
        self._report_repeats()
        for tag, data in (unsent or {}).items():
            sink = self.sinks.get(tag)
            if not data or sink is None:
                continue
            if self._pending.startswith(b"[" + tag.encode() + b"]"):
                self._pending = b""
            sink(data)
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
        if m.group(1) == HV_TAG.encode():
            if text == self._last_hv and not m.group(2):
                self._repeats += 1
                return
            self._report_repeats()
            self._last_hv = None if m.group(2) else text
        sink(text if m.group(2) else text + b"\n")

    def _report_repeats(self) -> None:
        if self._repeats:
            sink = self.sinks.get(HV_TAG, self.untagged)
            sink(b"(last message repeated %d times)\n" % self._repeats)
        self._repeats = 0


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
