"""The debugger's shared vocabulary: user errors, break/watch/catchpoints, stop records, and
the limits every room of the debugger uses (armvirt/debug/repl.py puts the rooms together)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armvirt import layout as L
from armvirt.cpu import sysreg_table as T
from armvirt.cpu.syndrome import EC_KEYWORDS
from armvirt.debug.expr import M64
from armvirt.worlds import World


CHUNK = 1_000_000          # steps per run call while continuing (Ctrl-C and catch latency)


STEP_LINE_LIMIT = 10_000   # instructions `step`/`next` try before giving up on a line change


MAX_FRAMES = 64


MAX_EVENTS = 100_000       # exception trace events kept (a ring: older ones drop off)


PROMPT = "(armvirt) "


HISTORY_FILE = "~/.armvirt_history"


POWER_NAMES = {L.POWER_ON: "on", L.POWER_OFF: "off", L.POWER_WFI: "asleep in WFI",
               L.POWER_WFE: "asleep in WFE"}


VECTOR_GROUPS = {0x000: "current EL with SP_EL0", 0x200: "current EL with SP_ELx",
                 0x400: "lower EL using AArch64", 0x600: "lower EL using AArch32"}


VECTOR_KINDS = {0x000: "synchronous", 0x080: "IRQ", 0x100: "FIQ", 0x180: "SError"}


_SYSREG_UPPER = {r.name.upper(): r for r in T.SYSREGS}


# Names accepted by `catch exception ec=NAME` (ESR_ELx.EC values): the syndrome table's
# keywords, and a few synonyms.
_EC_BY_NAME: dict[str, tuple[int, ...]] = {
    **EC_KEYWORDS, "undefined": EC_KEYWORDS["undef"], "msr": EC_KEYWORDS["sysreg"],
    "mrs": EC_KEYWORDS["sysreg"]}


class DebugError(Exception):
    """A user error; ``str()`` is the one-line message shown."""


@dataclass
class Point:
    """A breakpoint, watchpoint or catchpoint, numbered like gdb's."""

    num: int
    kind: str                       # "breakpoint" | "watchpoint" | "catchpoint"
    addr: int = 0
    el_mask: int = 0b111
    temporary: bool = False
    what: str = ""                  # the location or expression as the user gave it
    size: int = 8                   # watchpoints
    access: str = "w"               # "w" | "r" | "rw"
    value: bytes | None = None      # last value seen (write watchpoints)
    catch: str = "exception"        # catchpoints: "exception" | "eret"
    catch_el: int | None = None
    catch_ec: tuple[int, ...] | None = None
    vmid: int = -1                  # breakpoints: only in this VM (stage 2 VMID)
    world: World | None = None      # breakpoints: the world its address belongs to
    enabled: bool = True
    hits: int = 0

    def machine_item(self) -> tuple:
        if self.kind == "breakpoint":
            return ("b", self.addr, self.el_mask, False, self.vmid)
        return ("w", self.addr, self.size, self.access, self.el_mask)


@dataclass
class Stop:
    kind: str       # done | breakpoint | watchpoint | catch | interrupted | system_off | ...
    info: Any = None
    point: Point | None = None
    event: tuple | None = None
    detail: str = ""
    old: bytes | None = None
    new: bytes | None = None


@dataclass
class _Internal:
    """A breakpoint the debugger itself uses (``next``, ``finish``, ``advance``)."""

    addr: int
    el_mask: int
    pe: int
    sp: int         # stop only when the PE's SP is at or above this (deeper recursion: no)


def _els_text(mask: int) -> str:
    els = [e for e in range(3) if mask >> e & 1]
    return "EL" + "/".join(str(e) for e in els)


def _hex(v: int) -> str:
    return f"0x{v & M64:x}"


INFO_ALIASES = {"r": "registers", "reg": "registers", "b": "breakpoints",
                "break": "breakpoints", "watchpoints": "breakpoints",
                "threads": "pes", "thread": "pes", "lr": "lr", "sym": "symbol"}
