"""The host's standard input as the guest's console input (the PL011's receive side).

``armvirt run`` reads what is typed and queues it for the guest (``Machine.uart_input``, which
raises the PL011's receive interrupt). As with ``qemu -nographic``:

* a terminal is put in raw mode for the run — every key, Ctrl-C included, goes to the guest,
  whose own line discipline (a shell, U-Boot's command line) echoes and edits — and restored on
  every way out: a normal end, an exception, SIGTERM, Ctrl-A x;
* ``Ctrl-A x`` quits, ``Ctrl-A Ctrl-A`` sends one Ctrl-A, ``Ctrl-A h`` lists the escapes; any
  other key after Ctrl-A is dropped;
* a pipe or a file is read as it is, without escapes, up to its end.

Output post-processing (``\\n`` -> ``\\r\\n``) stays on in raw mode, so that armvirt's own
messages on stderr still start at the left margin; the guest's ``\\r\\n`` are unaffected.
"""
from __future__ import annotations

import os
import select
import sys

CTRL_A = 0x01
HELP = (b"\r\nC-a x    exit armvirt\r\nC-a C-a  send C-a\r\nC-a h    this help\r\n")


class ConsoleQuit(Exception):
    """The user typed the quit escape (Ctrl-A x)."""


class StdinConsole:
    """A context manager: ``read(timeout)`` gives the bytes typed (b"" for none yet, None once
    the input has ended), with escapes handled on a terminal."""

    def __init__(self, fd: int = 0, *, notice=None):
        self.fd = fd
        self.tty = os.isatty(fd)
        self._saved = None
        self._escape = False
        self._notice = notice or (lambda data: (sys.stderr.buffer.write(data),
                                                sys.stderr.buffer.flush()))

    def __enter__(self) -> "StdinConsole":
        if self.tty:
            import termios
            import tty
            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
            mode = termios.tcgetattr(self.fd)
            mode[1] |= termios.OPOST | termios.ONLCR     # oflag: keep \n -> \r\n on output
            termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        if self._saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    @property
    def waits(self) -> bool:
        """Whether a run with every PE asleep should wait for input (a person may type), or
        end as it would without input once what a pipe or a file holds now has been read
        (Machine.run looks for it first: a guest may sleep until its receive interrupt)."""
        return self.tty

    def read(self, timeout: float) -> bytes | None:
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
        except (OSError, ValueError):
            return None
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            return None
        if not data:
            return None
        return self._escapes(data) if self.tty else data

    def _escapes(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            if self._escape:
                self._escape = False
                if b in (ord("x"), ord("X")):
                    raise ConsoleQuit()
                if b == CTRL_A:
                    out.append(CTRL_A)
                elif b in (ord("h"), ord("?")):
                    self._notice(HELP)
            elif b == CTRL_A:
                self._escape = True
            else:
                out.append(b)
        return bytes(out)
