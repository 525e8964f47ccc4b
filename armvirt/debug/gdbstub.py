"""A GDB remote serial protocol (RSP) stub: debug the emulated board with ``gdb-multiarch``.

    from armvirt.debug.gdbstub import GdbServer
    from armvirt.debug.symbols import SymbolTable
    server = GdbServer(machine, symbols=SymbolTable.from_boot_info(boot))
    result = server.serve("tcp::1234")        # QEMU's -gdb syntax; returns when GDB leaves
    # elsewhere: gdb-multiarch guest.elf -ex "target remote :1234"

References are to *Debugging with GDB*, appendix "Remote Serial Protocol" (sections named as in
the manual: "Overview", "Packets", "Stop Reply Packets", "General Query Packets",
"Architecture-Specific Protocol Details", "Interrupts", "Packet Acknowledgment") and appendix
"Target Descriptions".

Two layers
----------
:class:`GdbSession` is the protocol: ``handle_packet(payload) -> reply`` on packet *payloads*
(no ``$``/``#cs`` framing), with no socket, so tests and other front ends can drive it directly.
:class:`GdbServer` is the transport: it listens on ``tcp::PORT``, ``tcp:HOST:PORT`` or
``unix:PATH`` (QEMU's ``-gdb`` spelling), frames packets, acknowledges them (``+``/``-`` with
retransmission, until ``QStartNoAckMode``), and watches the socket for GDB's interrupt byte
(0x03, "Interrupts") while the guest runs. An empty host means **localhost only** (QEMU binds
every interface for ``tcp::1234``); write ``tcp:0.0.0.0:1234`` to opt into that. GDB 13 cannot
dial a Unix socket itself: ``target remote | socat - UNIX-CONNECT:PATH``. Everything runs in
the thread that calls ``serve``, one session at a time; nothing else may use the Machine
meanwhile.

The model GDB sees
------------------
* **Threads are PEs**: thread id *n + 1* is PE *n* (thread ids are positive; 0 and -1 mean
  "any" and "all"). Every PE is listed, including PEs that are powered off until PSCI
  ``CPU_ON``; ``info threads`` shows each one's world, EL, SPSel and power state
  (``qThreadExtraInfo``).
* **All-stop.** A stop reply names the PE that stopped (``thread:N;``) with the reason
  (``swbreak:``/``hwbreak:``, ``watch:``/``rwatch:``/``awatch:`` with the data address). ``c``
  runs every powered-on PE, round robin as ``Machine.run`` does, in chunks of
  ``chunk`` instructions, checking for Ctrl-C between chunks (stop reply ``T02``). A step
  executes exactly one instruction on the stepped PE and nothing on the others (as if the other
  threads were scheduler-locked): it is deterministic, and the stop is reported at once anyway.
  ``vCont;c:N`` (GDB's ``set scheduler-locking on``) runs only PE N; the other PEs are held —
  they keep their power state as far as the guest can tell (PSCI ``CPU_ON`` on a held PE answers
  ``ALREADY_ON``). Under armvirt's hypervisor a thread's extra info names the world its PE runs
  in (``PE0 [vm0 vcpu0] MPIDR ... EL1h running``).
* **Registers**: the target description of :mod:`armvirt.debug.gdb_xml` — the AArch64 core and
  FP/SIMD features plus *every readable system register*, EL2 ones included. Reads show the
  value ``MRS`` would return at the PE's current EL (computed registers such as ``CurrentEL``,
  ``CNTPCT_EL0`` or ``ISR_EL1`` are computed by the core's own code), except ``MIDR_EL1`` and
  ``MPIDR_EL1``, which show the PE's real identification (their EL1 view is ``VPIDR_EL2`` /
  ``VMPIDR_EL2``, also listed). Writes go through ``Machine.set_reg`` with ``MSR`` semantics:
  the bits the register does not implement keep their value; read-only and constant registers
  answer ``E01``.
* **Memory** is the *virtual* address space of the world the selected PE (``Hg``) executes
  in — under armvirt's hypervisor a guest's vCPU (its stage 1, then its VM's stage 2), the
  hypervisor or its host part — or of the world chosen with ``monitor world NAME``, translated
  by ``Worlds.va_to_pa`` as the REPL's views are (a privileged read); an address that does not
  translate answers ``E0e``. Only RAM is reachable: device registers
  have side effects and are not read behind the guest's back. ``m`` returns the bytes up to the
  end of RAM when a read starts in RAM and runs past it (the manual allows a short read).
* **Breakpoints and watchpoints** are the Machine's (data in the decode cache and the watchpoint
  table), never patched instructions: ``Z0``/``Z1`` both become ``Machine.add_breakpoint``
  (in every world at that address, or only in the one chosen with ``monitor world NAME``);
  ``Z2``/``Z3``/``Z4`` become write/read/access watchpoints. The Machine reports a watchpoint
  *after* the accessing instruction completed, whereas on AArch64 GDB assumes the Arm behaviour
  (the watchpoint fires before the access; ``gdbarch_have_nonsteppable_watchpoint``) and single-
  steps the PE once more after the report. So that GDB stops where it should — on the
  instruction after the access, as it does natively — the first single step of that PE after a
  watchpoint report, from the same pc, completes at once without executing anything: that
  instruction has already been executed. Any other resume, or a register write to that PE,
  cancels this.
* **End of the guest**: PSCI ``SYSTEM_OFF`` answers ``W00`` (and ``SYSTEM_RESET`` ``W00`` with a
  console note: the board does not reset). A stop the guest cannot continue from — every PE
  off, every PE asleep with nothing to wake it — is reported as ``SIGSTOP`` and an internal
  emulator error as ``SIGABRT``, each with an ``O`` console packet explaining it, so the state
  can still be inspected. The session stays usable after ``W``: ``?`` repeats it, registers
  still read, and ``k``/``D`` end the session.
* **monitor** (``qRcmd``) passes the command line to :class:`armvirt.debug.repl.Debugger`
  (``monitor info sysregs el2``, ``monitor explain fault``, …) on the PE of GDB's selected
  thread; the reply carries its output. Should that module be missing, a built-in set (``help``,
  ``info el``) answers. REPL commands that run the guest (``monitor stepi``) do so behind GDB's
  back: GDB's cached registers are then stale until ``maintenance flush register-cache``.
* **Reverse execution** ("Packets": ``bs``, ``bc``; advertised as ``ReverseStep+`` and
  ``ReverseContinue+``): every run the stub makes goes through the REPL's
  :class:`~armvirt.debug.history.History` (the one ``monitor`` uses), with the PEs it holds and
  the breakpoint it steps over, so ``bs`` (one instruction of the selected PE back) and ``bc``
  (back to the last hit of GDB's breakpoints or watchpoints) are the REPL's checkpoints and
  deterministic replay; at the start of the recording the stop reply says
  ``replaylog:begin``. A register or memory write from GDB starts the recording afresh (the
  past no longer leads to the present). GDB's ``reverse-stepi``, ``reverse-continue`` and
  ``reverse-finish`` work on top of these.
* **Session end**: ``D`` (detach), ``k``/``vKill`` (kill) or the connection closing. The
  breakpoints and watchpoints GDB inserted are removed. The stub never runs the guest after the
  session: :meth:`GdbServer.serve` returns why it ended and the caller decides.
  :meth:`GdbServer.serve_run` (``armvirt run --gdb``) is QEMU's behaviour: after a detach the
  guest runs on and the server keeps listening, so a debugger can attach again, until the
  guest powers off, stops for good, or a client kills it.
"""
from __future__ import annotations

import os
import select
import socket
import stat
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import sysreg_table as T
from armvirt.debug import gdb_xml as X
from armvirt.debug.history import POWER_HELD, ReplayError, machine_config
from armvirt.machine import ExitInfo, Machine, MachineError
from armvirt.worlds import World, Worlds

__all__ = ["GdbServer", "GdbSession", "ServeResult", "parse_address", "checksum", "frame",
           "escape_binary", "unescape_binary", "PACKET_SIZE"]

PACKET_SIZE = 0x4000   # largest packet we accept ("PacketSize" in qSupported), in bytes

# GDB's signal numbers (include/gdb/signals.def), used in stop replies.
SIGINT, SIGTRAP, SIGABRT, SIGSTOP = 2, 5, 6, 17
# Error replies: "E NN", NN an errno in hex, as gdbserver answers. GDB shows, never parses, them.
E_PERM = "E01"     # the register or state cannot be written
E_SRCH = "E03"     # no such thread
E_FAULT = "E0e"    # memory not accessible
E_INVAL = "E16"    # malformed packet, bad hex, value out of range

_U64 = (1 << 64) - 1
_POWER_HELD = POWER_HELD   # a powered-on PE the debugger keeps from running
_POWER_NAMES = {L.POWER_ON: "running", L.POWER_OFF: "off", L.POWER_WFI: "asleep (WFI)",
                L.POWER_WFE: "asleep (WFE)", _POWER_HELD: "held"}


class RspError(Exception):
    """A request that gets an error reply (``reply``, e.g. ``E16``); ``str()`` says why."""

    def __init__(self, reply: str, why: str = ""):
        super().__init__(why or reply)
        self.reply = reply


# ---------------------------------------------------------------------------------------------
# Framing ("Overview"; binary data: "Overview", escaping)
# ---------------------------------------------------------------------------------------------
def checksum(data: bytes) -> int:
    """The modulo-256 sum of the bytes between ``$`` and ``#``."""
    return sum(data) & 0xFF


def escape_binary(data: bytes) -> bytes:
    """Escape ``#``, ``$``, ``}`` and ``*`` as ``}`` followed by the byte XOR 0x20."""
    out = bytearray()
    for b in data:
        if b in b"#$}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    """Undo :func:`escape_binary` (``X`` packet data). A trailing lone ``}`` is an error."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise RspError(E_INVAL, "binary data ends inside an escape")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def frame(payload: bytes | str) -> bytes:
    """``$payload#cs``. A ``str`` payload is taken as Latin-1 (one character per byte)."""
    data = payload.encode("latin-1") if isinstance(payload, str) else payload
    return b"$" + data + b"#%02x" % checksum(data)


def _unhex(text: str) -> bytes:
    try:
        if len(text) % 2:
            raise ValueError
        return bytes.fromhex(text)
    except ValueError:
        raise RspError(E_INVAL, f"not an even number of hex digits: {text[:40]!r}") from None


def _int(text: str) -> int:
    """A non-negative hex number of a packet."""
    if not text or any(ch not in "0123456789abcdefABCDEF" for ch in text):
        raise RspError(E_INVAL, f"not a hex number: {text[:40]!r}")
    return int(text, 16)


def _addr_len(text: str) -> tuple[int, int]:
    a, sep, n = text.partition(",")
    if not sep:
        raise RspError(E_INVAL, f"expected ADDR,LENGTH: {text[:40]!r}")
    addr, length = _int(a), _int(n)
    if addr > _U64 or addr + length > _U64 + 1:
        raise RspError(E_INVAL, "address range beyond 64 bits")
    return addr, length


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------
class GdbSession:
    """One GDB connection's worth of protocol state over a :class:`~armvirt.machine.Machine`.

    ``handle_packet(payload)`` returns the reply payload, or None for packets that get none
    (``k``). Resuming packets run the guest until it stops and return the stop reply; while it
    runs, ``interrupt_check()`` (if set) is asked between chunks whether GDB sent Ctrl-C, and
    console notes (``O`` packets) go to ``emit`` — or are kept in ``emitted`` when there is no
    transport. Nothing a client sends can raise out of ``handle_packet``: errors become ``E``
    replies (the last unexpected one is kept in ``last_error`` and logged).
    """

    def __init__(self, machine: Machine, *, symbols: Any = None, chunk: int = 200_000,
                 log: Callable[[str], None] | None = None, initial_stop: str | None = None):
        self.m = machine
        self.symbols = symbols
        self.chunk = chunk
        self.log = log
        self.interrupt_check: Callable[[], bool] | None = None
        self.emit: Callable[[str], None] | None = None
        self.emitted: list[str] = []
        self.last_error: str | None = None
        self.ended: str | None = None          # "detach" | "kill" once the session is over
        self.client_features: set[str] = set()
        last = machine.last_exit
        pe = last.pe if last is not None else 0
        self.g_pe = pe                         # Hg: registers and memory
        self.c_pe: int | None = None           # Hc: None = all
        # "W00" once the guest powered off (also for a session opened after it did)
        self.exited: str | None = "W00" if machine.power_off_reason else None
        self.last_stop = initial_stop or self._stop_reply(SIGTRAP, pe)
        self._gdb_bps: dict[tuple[int, int], Any] = {}      # (type, addr) -> Breakpoint
        self._gdb_wps: dict[tuple[int, int, int], Any] = {}  # (type, addr, len) -> Watchpoint
        self._watch_done: tuple[int, int] | None = None     # (pe, pc) after a watch report
        self._debugger: Any = None

    # -------------------------------------------------------------- entry point
    def handle_packet(self, payload: str) -> str | None:
        """Answer one packet ("Packets"). Unknown packets get the empty reply."""
        try:
            return self._dispatch(payload)
        except RspError as e:
            self._log(f"error {e.reply}: {e}")
            return e.reply
        except MachineError as e:
            self._log(f"error: {e}")
            return E_INVAL
        except Exception:  # a bug of ours must not end the session: report and carry on
            self.last_error = traceback.format_exc()
            self._log(self.last_error)
            return E_INVAL

    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _dispatch(self, p: str) -> str | None:
        if not p:
            return ""
        c = p[0]
        if c == "?":
            return self.exited or self.last_stop
        if c == "g":
            return "".join(self._read_reg(self.g_pe, n).hex() for n in range(X.NUM_CORE))
        if c == "G":
            return self._write_core(_unhex(p[1:]))
        if c == "p":
            return self._read_reg(self.g_pe, _int(p[1:])).hex()
        if c == "P":
            num, sep, val = p[1:].partition("=")
            if not sep:
                raise RspError(E_INVAL, "expected P n=value")
            self._write_reg(self.g_pe, _int(num), _unhex(val))
            return "OK"
        if c == "m":
            addr, length = _addr_len(p[1:])
            return self._read_mem(addr, min(length, PACKET_SIZE // 2 - 8)).hex()
        if c == "M":
            spec, sep, data = p[1:].partition(":")
            if not sep:
                raise RspError(E_INVAL, "expected M addr,length:XX...")
            return self._write_mem(*_addr_len(spec), _unhex(data))
        if c == "X":
            spec, sep, data = p[1:].partition(":")
            if not sep:
                raise RspError(E_INVAL, "expected X addr,length:binary")
            return self._write_mem(*_addr_len(spec), unescape_binary(data.encode("latin-1")))
        if c in "Zz":
            return self._breakpoint(c == "Z", p[1:])
        if c == "H":
            return self._set_thread(p[1:2], p[2:])
        if c == "T":
            self._pe_of(p[1:])
            return "OK"
        if c in "cs":
            if len(p) > 1:
                self._set_pc(self.g_pe, _int(p[1:]))
            if c == "c":
                return self._resume([("c", None)])
            return self._resume([("s", self.c_pe if self.c_pe is not None else self.g_pe)])
        if c in "CS":  # continue/step with signal: there are no signals to deliver; ignored
            sig, _, addr = p[1:].partition(";")
            _int(sig)
            if addr:
                self._set_pc(self.g_pe, _int(addr))
            tid = self.c_pe if self.c_pe is not None else self.g_pe
            return self._resume([("c", None)] if c == "C" else [("s", tid)])
        if p in ("bs", "bc"):
            return self._reverse(p)
        if c == "D":
            self.release()
            self.ended = "detach"
            return "OK"
        if c == "k":
            self.release()
            self.ended = "kill"
            return None
        if p.startswith("vCont?"):
            return "vCont;c;C;s;S;t"
        if p.startswith("vCont;"):
            return self._resume(self._parse_vcont(p[6:]))
        if p.startswith("vKill"):
            self.release()
            self.ended = "kill"
            return "OK"
        if c == "q" or c == "Q":
            return self._query(p)
        return ""

    # -------------------------------------------------------------- queries
    def _query(self, p: str) -> str:
        """"General Query Packets"."""
        if p.startswith("qSupported"):
            _, _, feats = p.partition(":")
            self.client_features = {f[:-1] for f in feats.split(";") if f.endswith("+")}
            return (f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;QStartNoAckMode+;"
                    "vContSupported+;swbreak+;hwbreak+;ReverseStep+;ReverseContinue+")
        if p == "QStartNoAckMode":
            return "OK"
        if p.startswith("qXfer:features:read:"):
            annex, _, span = p[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return "E00"
            off, length = _addr_len(span)
            data = X.target_xml().encode()
            if off > len(data):
                raise RspError("E01", "offset beyond the document")
            chunk = data[off:off + length]
            more = off + length < len(data)
            return ("m" if more else "l") + escape_binary(chunk).decode("latin-1")
        if p == "qfThreadInfo":
            return "m" + ",".join(f"{pe + 1:x}" for pe in range(self.m.smp))
        if p == "qsThreadInfo":
            return "l"
        if p == "qC":
            return f"QC{self.g_pe + 1:x}"
        if p.startswith("qThreadExtraInfo,"):
            return self._thread_info(self._pe_of(p.split(",", 1)[1])).encode().hex()
        if p == "qAttached" or p.startswith("qAttached:"):
            return "1"  # "attached to an existing process": quitting GDB detaches, not kills
        if p.startswith("qRcmd,"):
            return self._monitor(_unhex(p[6:]).decode("utf-8", "replace"))
        if p.startswith("qSymbol:"):
            return "OK"  # no symbol lookups wanted
        return ""

    def _thread_info(self, pe: int) -> str:
        c = self.m.cpus[pe]
        power = int(c[L.POWER])
        mpidr = self.m.reg("MPIDR_EL1", pe)
        if power == L.POWER_OFF:
            return f"PE{pe} MPIDR {mpidr:#x} off"
        el, spsel = int(c[L.EL]), int(c[L.SPSEL])
        tag = self._worlds().current(pe).tag       # [hyp], [vm0 vcpu0]; none on a bare board
        return (f"PE{pe}{' ' + tag if tag else ''} MPIDR {mpidr:#x} EL{el}{'h' if spsel else 't'} "
                f"{_POWER_NAMES.get(power, 'power state ' + str(power))}")

    # -------------------------------------------------------------- threads
    def _pe_of(self, tid_text: str, *, allow_all: bool = False) -> int | None:
        """Thread id → PE. ``pPID.TID`` is accepted (multiprocess syntax); 0 means "any"
        (the current PE); -1 means "all" (None) where the packet allows it."""
        t = tid_text
        if t.startswith("p"):
            t = t.partition(".")[2] or "-1"
        if t == "-1":
            if allow_all:
                return None
            raise RspError(E_SRCH, "thread -1 (all) is not allowed here")
        tid = _int(t)
        if tid == 0:
            return self.g_pe
        if not 1 <= tid <= self.m.smp:
            raise RspError(E_SRCH, f"no thread {tid:x} (threads are PEs 1..{self.m.smp:x})")
        return tid - 1

    def _set_thread(self, op: str, tid: str) -> str:
        if op == "g":
            self.g_pe = self._pe_of(tid)
        elif op == "c":
            self.c_pe = self._pe_of(tid, allow_all=True)
        else:
            raise RspError(E_INVAL, f"unknown H operation {op!r}")
        return "OK"

    # -------------------------------------------------------------- registers
    def _read_reg(self, pe: int, num: int) -> bytes:
        regs = X.registers()
        if not 0 <= num < len(regs):
            raise RspError(E_INVAL, f"no register {num}")
        r = regs[num]
        return (self._reg_value(pe, r) & ((1 << r.bits) - 1)).to_bytes(r.size, "little")

    def _reg_value(self, pe: int, r: X.GdbRegister) -> int:
        m = self.m
        if r.num <= X.REG_PC:
            return m.reg(r.name, pe)
        if r.num == X.REG_CPSR:
            return m.reg("cpsr", pe)
        if r.feature == X.FEATURE_FPU and r.sysreg is None:
            return m.reg(r.name, pe)
        return read_sysreg(m, pe, r.sysreg)

    def _write_reg(self, pe: int, num: int, data: bytes) -> None:
        regs = X.registers()
        if not 0 <= num < len(regs):
            raise RspError(E_INVAL, f"no register {num}")
        r = regs[num]
        if len(data) != r.size:
            raise RspError(E_INVAL, f"{r.name} is {r.size} bytes, not {len(data)}")
        value = int.from_bytes(data, "little")
        if r.num <= X.REG_PC:
            self.m.set_reg(r.name, value, pe)
        elif r.num == X.REG_CPSR:
            self._write_cpsr(pe, value)
        elif r.feature == X.FEATURE_FPU and r.sysreg is None:
            self.m.set_reg(r.name, value, pe)
        else:
            write_sysreg(self.m, pe, r.sysreg, value)
        self._register_written(pe)

    def _register_written(self, pe: int) -> None:
        if self._watch_done is not None and self._watch_done[0] == pe:
            self._watch_done = None
        self._forget_history()

    def _write_cpsr(self, pe: int, value: int, *, check_only: bool = False) -> None:
        """PSTATE from an SPSR-format value: N, Z, C, V, D, A, I, F, EL and SP can change
        (``Machine.set_reg`` nzcv/daif/el/spsel); PAN, SS and IL cannot be written through the
        Machine today, so a value that changes them is refused rather than half applied."""
        old = self.m.reg("cpsr", pe)
        changeable = (0xF << 28) | (0xF << 6) | 0b1101
        if (value ^ old) & ~changeable & 0xFFFF_FFFF:
            raise RspError(E_PERM, f"cpsr: only NZCV, DAIF, EL and SP can be written "
                           f"(0x{old:08x} -> 0x{value:08x})")
        el, sp = (value >> 2) & 3, value & 1
        if el > 2 or (el == 0 and sp):
            raise RspError(E_PERM, f"cpsr: EL{el}{'h' if sp else 't'} is not a valid mode here")
        if check_only:
            return
        self.m.set_reg("nzcv", value & (0xF << 28), pe)
        self.m.set_reg("daif", (value >> 6) & 0xF, pe)
        if (value ^ old) & 0b1101:
            self.m.set_reg("el", el, pe)
            self.m.set_reg("spsel", sp, pe)

    def _write_core(self, data: bytes) -> str:
        regs = X.registers()[:X.NUM_CORE]
        need = sum(r.size for r in regs)
        if len(data) != need:
            raise RspError(E_INVAL, f"G needs {need} bytes of registers, got {len(data)}")
        pe = self.g_pe
        values, off = [], 0
        for r in regs:
            values.append(int.from_bytes(data[off:off + r.size], "little"))
            off += r.size
        self._write_cpsr(pe, values[X.REG_CPSR], check_only=True)  # validate before writing
        for r, v in zip(regs[:X.REG_CPSR], values):
            self.m.set_reg(r.name, v, pe)
        self._write_cpsr(pe, values[X.REG_CPSR])
        self._register_written(pe)
        return "OK"

    def _set_pc(self, pe: int, pc: int) -> None:
        self.m.set_reg("pc", pc, pe)
        self._register_written(pe)

    # -------------------------------------------------------------- memory
    def _worlds(self) -> Worlds:
        """The machine's worlds as the REPL sees them (its firmware symbols name them)."""
        dbg = self._dbg()
        return dbg.worlds if dbg is not None else Worlds(self.m)

    def _world(self) -> World:
        """The world whose addresses GDB's memory packets name: the one chosen with ``monitor
        world NAME``, else the one the selected PE (``Hg``) executes in — a guest's vCPU, the
        hypervisor, its host part, or the PE's own regime on a bare board."""
        dbg = self._dbg()
        if dbg is not None and dbg._view is not None:
            return dbg._view
        return self._worlds().current(self.g_pe)

    def _va_to_pa(self, va: int) -> int:
        """The physical address of ``va`` in that world's regime: ``Worlds.va_to_pa``, the
        translation the REPL's views use (a privileged read, as a debugger looks at memory)."""
        try:
            return self._worlds().va_to_pa(self._world(), va)
        except MachineError as e:
            raise RspError(E_FAULT, str(e)) from None

    def _ram_span(self, pa: int) -> int:
        """Bytes of RAM from ``pa`` to its end (0: not RAM)."""
        off = pa - memmap.RAM_BASE
        return self.m.ram_size - off if 0 <= off < self.m.ram_size else 0

    def _read_mem(self, va: int, length: int) -> bytes:
        """Page by page; a partial answer when a later page does not translate or is not RAM
        (GDB asks again for the rest and reports the error there)."""
        out = bytearray()
        while len(out) < length:
            n = min(length - len(out), 4096 - ((va + len(out)) & 0xFFF))
            try:
                pa = self._va_to_pa(va + len(out))
            except RspError:
                if out:
                    break
                raise
            n = min(n, self._ram_span(pa))
            if n == 0:
                if out:
                    break
                raise RspError(E_FAULT, f"0x{va:x} is not RAM")
            out += self.m.read_phys(pa, n)
        return bytes(out)

    def _write_mem(self, va: int, length: int, data: bytes) -> str:
        if len(data) != length:
            raise RspError(E_INVAL, f"length {length} but {len(data)} bytes of data")
        if length == 0:
            return "OK"  # GDB probes X support with an empty write
        spans, off = [], 0      # every page translated and in RAM before the first byte
        while off < length:
            n = min(length - off, 4096 - ((va + off) & 0xFFF))
            pa = self._va_to_pa(va + off)
            if self._ram_span(pa) < n:
                raise RspError(E_FAULT, f"0x{(va + off) & _U64:x} is not RAM")
            spans.append((pa, off, n))
            off += n
        for pa, off, n in spans:
            self.m.write_phys(pa, data[off:off + n])
        self._forget_history()
        return "OK"

    # -------------------------------------------------------------- breakpoints, watchpoints
    def _breakpoint(self, insert: bool, spec: str) -> str:
        """``Z``/``z`` type,addr,kind ("Packets"): 0 software and 1 hardware breakpoint (kind
        4, the A64 instruction size: "Architecture-Specific Protocol Details"), 2 write, 3 read,
        4 access watchpoint (kind = length).
        Idempotent, as the manual asks: inserting twice or removing a missing one is OK."""
        fields = spec.split(";", 1)[0].split(",")
        if len(fields) != 3:
            raise RspError(E_INVAL, "expected type,addr,kind")
        typ, addr, kind = _int(fields[0]), _int(fields[1]), _int(fields[2])
        try:
            return self._breakpoint_op(insert, typ, addr, kind)
        except MachineError as e:
            raise RspError(E_FAULT, str(e)) from None

    def _breakpoint_op(self, insert: bool, typ: int, addr: int, kind: int) -> str:
        if typ in (0, 1):
            key = (typ, addr)
            if insert and key not in self._gdb_bps:
                self._gdb_bps[key] = self.m.add_breakpoint(addr, **self._breakpoint_scope())
            elif not insert and key in self._gdb_bps:
                self.m.remove_breakpoint(self._gdb_bps.pop(key))
            return "OK"
        if typ in (2, 3, 4):
            if kind == 0:
                raise RspError(E_INVAL, "watchpoint length 0")
            wkey = (typ, addr, kind)
            if insert and wkey not in self._gdb_wps:
                self._gdb_wps[wkey] = self.m.add_watchpoint(addr, kind,
                                                            {2: "w", 3: "r", 4: "rw"}[typ])
            elif not insert and wkey in self._gdb_wps:
                self.m.remove_watchpoint(self._gdb_wps.pop(wkey))
            return "OK"
        return ""  # "shall return an empty string for an unrecognized ... type"

    def _breakpoint_scope(self) -> dict:
        """GDB's breakpoints stop in every world at their address, unless a world was chosen
        with ``monitor world NAME``: then only in it — a VM's vCPUs (EL0/EL1 under its stage 2
        VMID), the hypervisor (EL2), or EL1 for the host part. (GDB inserts its breakpoints
        as it resumes, so the world chosen then is the one that counts.)"""
        dbg = self._debugger
        w = dbg._view if dbg is not None else None
        if w is None or w.kind == "bare":
            return {}
        if w.kind == "guest":
            return {"el": (0, 1), "vmid": w.vmid}
        return {"el": 2 if w.kind == "hyp" else 1}

    def release(self) -> None:
        """Remove every breakpoint and watchpoint this session inserted (end of session)."""
        for bp in self._gdb_bps.values():
            try:
                self.m.remove_breakpoint(bp)
            except MachineError:
                pass  # already gone (removed by someone else)
        for wp in self._gdb_wps.values():
            try:
                self.m.remove_watchpoint(wp)
            except MachineError:
                pass
        self._gdb_bps.clear()
        self._gdb_wps.clear()

    # -------------------------------------------------------------- running
    def _parse_vcont(self, text: str) -> list[tuple[str, int | None]]:
        actions = []
        for part in text.split(";"):
            act, _, tid = part.partition(":")
            if not act or act[0] not in "cCsSt":
                raise RspError(E_INVAL, f"unknown vCont action {part!r}")
            if act[0] in "CS":
                _int(act[1:])  # a signal to deliver: there are none on this board; ignored
            elif len(act) != 1:
                raise RspError(E_INVAL, f"bad vCont action {part!r}")
            actions.append((act[0].lower(), self._pe_of(tid, allow_all=True) if tid else None))
        return actions

    def _resume(self, actions: list[tuple[str, int | None]]) -> str:
        """Apply resume actions ("Packets", vCont: for each thread the leftmost action that
        applies) and return the stop reply ("Stop Reply Packets")."""
        if self.exited:
            return self.exited
        per_pe: dict[int, str] = {}
        for act, pe in actions:
            for p in (range(self.m.smp) if pe is None else (pe,)):
                per_pe.setdefault(p, act)
        steps = [p for p in range(self.m.smp) if per_pe.get(p) == "s"]
        conts = {p for p in range(self.m.smp) if per_pe.get(p) == "c"}
        watch_done, self._watch_done = self._watch_done, None
        if steps:
            return self._step(steps[0], watch_done)
        if conts:
            return self._continue(conts)
        # Only 't' (stop) actions: nothing runs; report the threads stopped (signal 0).
        return self._stop_reply(0, self.g_pe)

    def _step(self, pe: int, watch_done: tuple[int, int] | None) -> str:
        m = self.m
        c = m.cpus[pe]
        pc = m.reg("pc", pe)
        if watch_done == (pe, pc):
            # The instruction GDB wants to step over already ran (see the module docstring).
            return self._record(self._stop_reply(SIGTRAP, pe), pe)
        if c[L.POWER] != L.POWER_ON:
            self._note(f"PE{pe} is {_POWER_NAMES.get(int(c[L.POWER]), 'not running')}: "
                       "it has no instruction to step")
            return self._record(self._stop_reply(SIGTRAP, pe), pe)
        # A step executes the instruction at pc even when a breakpoint is set on it: the
        # engine steps over the breakpoint at STEP_BREAK once (what Machine.run arranges when
        # resuming from a breakpoint stop).
        step_break = pc if any(b.pa == pc or b.va == pc for b in m.breakpoints) else None
        info = self._run_pes({pe}, 1, step_break)
        if info.reason in ("budget", "halt", "idle") and info.instructions >= 1:
            if info.reason != "budget" and not self._any_pe_running():
                self._note(_exit_note(info))
            return self._record(self._stop_reply(SIGTRAP, pe), pe)
        return self._report(info)

    def _continue(self, pes: set[int]) -> str:
        while True:
            info = self._run_pes(pes, self.chunk)
            if info.reason != "budget":
                if info.reason in ("halt", "idle") and self._any_pe_running():
                    self._note("the resumed PEs are all off or asleep; the others are stopped "
                               "by the debugger (scheduler locking)")
                    return self._record(self._stop_reply(SIGSTOP, min(pes)), min(pes))
                return self._report(info)
            if self.interrupt_check is not None and self.interrupt_check():
                # Report the selected thread if it was resumed and runs (GDB stays on it),
                # else the first resumed PE that runs.
                running = [p for p in sorted(pes) if self.m.cpus[p][L.POWER] == L.POWER_ON]
                pe = self.g_pe if self.g_pe in running else (running or sorted(pes))[0]
                return self._record(self._stop_reply(SIGINT, pe), pe)

    def _any_pe_running(self) -> bool:
        return any(self.m.cpus[p][L.POWER] == L.POWER_ON for p in range(self.m.smp))

    def _run_pes(self, pes: set[int], budget: int, step_break: int | None = None) -> ExitInfo:
        """``Machine.run(budget)`` with only ``pes`` allowed to run: the other powered-on PEs
        are held (a power state the run loop skips and PSCI treats as on) and released after.
        Recorded in the execution history (``history.History``), for ``bs``/``bc``."""
        m = self.m
        held = tuple(p for p in range(m.smp) if p not in pes and
                     m.cpus[p][L.POWER] == L.POWER_ON)
        dbg = self._dbg()
        if dbg is None:
            from armvirt.debug.history import run_call
            return run_call(m, budget, held, step_break)
        h = dbg.history
        if not h.started:
            h.reset()
        try:
            info = h.run(budget, hold=held, step_break=step_break)
            h.checkpoint_if_due()
        finally:
            dbg._remember_machine()   # our own run: the REPL behind monitor keeps its history
        return info

    # -------------------------------------------------------------- reverse execution
    def _dbg(self) -> Any:
        """The REPL's Debugger on this machine (``monitor``), whose history records the runs
        (None when the REPL module is not available)."""
        if self._debugger is None:
            try:
                from armvirt.debug.repl import Debugger
            except ModuleNotFoundError as e:
                if e.name != "armvirt.debug.repl":
                    raise
                return None
            self._debugger = Debugger(self.m, symbols=self.symbols)
        return self._debugger

    def _forget_history(self) -> None:
        """A client changed registers or memory: the recorded past no longer leads here."""
        dbg = self._debugger
        if dbg is not None and dbg.history.started:
            dbg.history.reset()
            dbg._remember_machine()

    def _reverse(self, p: str) -> str:
        """``bs`` (step one instruction backwards) and ``bc`` (continue backwards to the last
        breakpoint or watchpoint hit), answered from the checkpoints and deterministic replay
        the REPL's ``reverse-stepi``/``reverse-continue`` use ("Packets": bc, bs; stop reply
        ``replaylog:begin`` at the start of the recorded history)."""
        if self.exited:
            return self.exited
        dbg = self._dbg()
        if dbg is None:
            return ""
        h = dbg.history
        pe = self.c_pe if self.c_pe is not None and p == "bs" else self.g_pe
        self._watch_done = None
        begin = f"{self._stop_reply(SIGTRAP, pe, 'replaylog:begin;')}"
        if not h.started or h.pos == h.start_pos:
            return self._record(begin, pe)
        dbg.pe = pe
        try:
            if p == "bs":
                target = h.pos - 1 if self.m.smp == 1 else dbg._previous_step_of_pe(h.pos)
                h.goto(target)
                dbg._after_travel()
                at_start = h.pos == h.start_pos
                return self._record(self._stop_reply(
                    SIGTRAP, pe, "replaylog:begin;" if at_start else ""), pe)
            stop = dbg.reverse_continue(machine_config(self.m), any_hit=True)
        except (ReplayError, Exception) as e:   # noqa: BLE001 - report, keep the session
            self._note(f"reverse execution failed: {str(e).splitlines()[0] if str(e) else e}")
            h.reset()
            return self._record(self._stop_reply(SIGTRAP, pe, "replaylog:begin;"), pe)
        finally:
            dbg._remember_machine()
        if stop is None:
            return self._record(begin, pe)
        info = stop.info
        if stop.kind == "watchpoint" and info is not None and info.watchpoint is not None:
            wp = info.watchpoint
            kind = {"w": "watch", "r": "rwatch", "rw": "awatch"}[wp.kind]
            return self._record(self._stop_reply(SIGTRAP, info.pe,
                                                 f"{kind}:{max(info.addr, wp.addr):x};"),
                                info.pe)
        stopped = info.pe if info is not None else pe
        why = "swbreak:;" if "swbreak" in self.client_features else ""
        return self._record(self._stop_reply(SIGTRAP, stopped, why), stopped)

    def _report(self, info: ExitInfo) -> str:
        """The stop reply for a Machine exit (other than a completed step)."""
        pe = info.pe
        if info.reason == "breakpoint":
            hw = (1, info.pc) in self._gdb_bps and (0, info.pc) not in self._gdb_bps
            why = ("hwbreak:;" if hw else "swbreak:;") if "swbreak" in self.client_features \
                else ""
            return self._record(self._stop_reply(SIGTRAP, pe, why), pe)
        if info.reason == "watchpoint":
            wp = info.watchpoint
            kind = {"w": "watch", "r": "rwatch", "rw": "awatch"}[wp.kind]
            addr = max(info.addr, wp.addr)   # the first watched byte the access touched
            self._watch_done = (pe, self.m.reg("pc", pe))
            return self._record(self._stop_reply(SIGTRAP, pe, f"{kind}:{addr:x};"), pe)
        if info.reason in ("system_off", "system_reset"):
            if info.reason == "system_reset":
                self._note("the guest asked for a system reset (PSCI SYSTEM_RESET); the board "
                           "stops instead of resetting")
            self.exited = "W00"
            return self.exited
        self._note(_exit_note(info))
        sig = SIGABRT if info.reason == "internal" else SIGSTOP
        return self._record(self._stop_reply(sig, pe), pe)

    def _record(self, reply: str, pe: int) -> str:
        self.last_stop = reply
        self.g_pe = pe
        return reply

    def _stop_reply(self, sig: int, pe: int, why: str = "") -> str:
        """``T AA thread:N; reason; n:r;...`` with pc, sp, x29 and x30 expedited, so that GDB
        needs no further packet to show where the PE stopped."""
        regs = "".join(f"{n:02x}:{self._read_reg(pe, n).hex()};"
                       for n in (29, 30, X.REG_SP, X.REG_PC))
        return f"T{sig:02x}thread:{pe + 1:x};{why}{regs}"

    def _note(self, text: str) -> None:
        """Console output for the user ("Stop Reply Packets", ``O``), before a stop reply."""
        packet = "O" + (f"armvirt: {text}\n").encode().hex()
        if self.emit is not None:
            self.emit(packet)
        else:
            self.emitted.append(packet)

    # -------------------------------------------------------------- monitor
    def _monitor(self, line: str) -> str:
        """``qRcmd``: the REPL's command, or the built-in set; the reply is the output in hex."""
        if self._dbg() is None:
            out = self._builtin_monitor(line)
        else:
            try:
                if hasattr(self._debugger, "pe"):
                    self._debugger.pe = self.g_pe   # GDB's selected thread is the REPL's PE
                out = self._debugger.command(line)
            except Exception as e:  # the REPL's errors are the user's output, not ours
                out = f"error: {e}"
        if out and not out.endswith("\n"):
            out += "\n"
        return out.encode().hex() if out else "OK"

    def _builtin_monitor(self, line: str) -> str:
        words = line.split()
        if not words or words[0] == "help":
            return ("monitor commands (built in; the armvirt REPL is not available):\n"
                    "  help      this list\n"
                    "  info el   exception level, stack pointer selection and power state "
                    "of every PE\n")
        if words[:2] == ["info", "el"]:
            lines = []
            for pe in range(self.m.smp):
                c = self.m.cpus[pe]
                power = _POWER_NAMES.get(int(c[L.POWER]), str(int(c[L.POWER])))
                lines.append(f"PE{pe}: EL{int(c[L.EL])}{'h' if c[L.SPSEL] else 't'} "
                             f"pc=0x{self.m.reg('pc', pe):x} {power}")
            return "\n".join(lines) + "\n"
        return f"unknown monitor command {line.strip()!r} (try: monitor help)\n"


def _exit_note(info: ExitInfo) -> str:
    what = {"halt": "every PE is off", "idle": "every running PE sleeps with nothing to wake it",
            "internal": "emulator error"}.get(info.reason, info.reason)
    detail = f": {info.detail}" if info.detail and info.detail != what else ""
    return f"{what} (PE{info.pe}, pc 0x{info.pc:x}){detail}"


# ---------------------------------------------------------------------------------------------
# System registers by their table record
# ---------------------------------------------------------------------------------------------
# Registers with storage whose MRS result depends on the EL only through virtualization: the
# debugger shows the stored (real) value.
_READ_STORED = {"MIDR_EL1", "MPIDR_EL1", "SP_EL0", "SP_EL1", "SP_EL2"}
# Computed registers that can be written, and the Machine.set_reg form of an MSR value.
_WRITE_SPECIAL: dict[str, tuple[str, Callable[[int], int]]] = {
    "NZCV": ("nzcv", lambda v: v & (0xF << 28)),
    "DAIF": ("daif", lambda v: (v >> 6) & 0xF),
    "SPSel": ("spsel", lambda v: v & 1),
    "SP_EL0": ("sp_el0", lambda v: v),
    "SP_EL1": ("sp_el1", lambda v: v),
    "SP_EL2": ("sp_el2", lambda v: v),
    "FPCR": ("FPCR", lambda v: v & 0x07FF9F00),
    "FPSR": ("FPSR", lambda v: v & 0xF800009F),
    "CNTFRQ_EL0": ("CNTFRQ_EL0", lambda v: v & 0xFFFFFFFF),
}


def read_sysreg(m: Machine, pe: int, r: T.SysReg) -> int:
    """The value of system register ``r`` of PE ``pe`` as a debugger shows it (see the module
    docstring): the core's own MRS computation for computed registers."""
    if r.kind == T.KIND_SPECIAL and r.name not in _READ_STORED:
        from armvirt.cpu.sysregs import _read_special
        return int(_read_special(m.cpus[pe], m.M, r.encoding)) & _U64
    return m.reg(r.name, pe)


def write_sysreg(m: Machine, pe: int, r: T.SysReg, value: int) -> None:
    """Write ``r`` with MSR semantics through ``Machine.set_reg``; RspError(E01) when the
    register cannot be written."""
    if not r.access & T.ACC_W or r.kind == T.KIND_CONST:
        raise RspError(E_PERM, f"{r.name} is read-only")
    if r.kind == T.KIND_SPECIAL:
        if r.name not in _WRITE_SPECIAL:
            raise RspError(E_PERM, f"{r.name} cannot be written from the debugger yet")
        name, conv = _WRITE_SPECIAL[r.name]
        m.set_reg(name, conv(value), pe)
        return
    wmask = r.wmask & _U64
    old = m.reg(r.name, pe)
    m.set_reg(r.name, (value & wmask) | (old & ~wmask & _U64), pe)


# ---------------------------------------------------------------------------------------------
# Transport
# ---------------------------------------------------------------------------------------------
def parse_address(address: str) -> tuple[str, Any]:
    """QEMU's ``-gdb`` spelling → (family, bind address). ``tcp::PORT`` and ``tcp:HOST:PORT``
    (an empty HOST is 127.0.0.1; ``[::1]`` style IPv6 hosts are accepted), ``unix:PATH``; a
    bare ``PORT`` or ``:PORT`` is taken as ``tcp::PORT``."""
    a = address.strip()
    if a.startswith("unix:"):
        path = a[5:]
        if path.startswith("path="):
            path = path[5:]
        if not path:
            raise ValueError(f"no socket path in {address!r}")
        return "unix", path
    if a.startswith("tcp:"):
        a = a[4:]
    host, sep, port = a.rpartition(":")
    if not sep:
        host, port = "", a
    host = host.strip("[]") or "127.0.0.1"
    try:
        p = int(port, 10)
    except ValueError:
        raise ValueError(f"bad port in {address!r} (expected tcp::PORT, tcp:HOST:PORT or "
                         "unix:PATH)") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"port out of range in {address!r}")
    return ("tcp6" if ":" in host else "tcp"), (host, p)


class _Connection:
    """Framing and acknowledgments on one socket ("Overview", "Packet Acknowledgment")."""

    MAX_RETRANSMIT = 8

    def __init__(self, sock: socket.socket, log: Callable[[str], None] | None = None):
        self.sock = sock
        self.buf = bytearray()
        self.no_ack = False
        self.closed = False
        self.log = log
        self.last_sent: bytes | None = None

    def _fill(self, timeout: float | None) -> bool:
        """Read what is available (waiting up to ``timeout``; None: block). False on EOF."""
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return True
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        return True

    def read_packet(self) -> str | None:
        """The next well-formed packet's payload (Latin-1), or None when the peer went away.
        Bad checksums are NAKed (``-``) and dropped; stray acks and interrupt bytes are
        skipped (an interrupt while stopped has nothing to interrupt)."""
        while True:
            start = self.buf.find(b"$")
            if start < 0:
                if b"-" in self.buf and self.last_sent is not None and not self.no_ack:
                    self._send_raw(self.last_sent)   # GDB asks for our last reply again
                self.buf.clear()
            else:
                if b"-" in self.buf[:start] and self.last_sent is not None and not self.no_ack:
                    self._send_raw(self.last_sent)
                del self.buf[:start]
                end = self.buf.find(b"#")
                if end >= 0 and len(self.buf) >= end + 3:
                    body = bytes(self.buf[1:end])
                    cs = bytes(self.buf[end + 1:end + 3])
                    del self.buf[:end + 3]
                    try:
                        ok = int(cs, 16) == checksum(body)
                    except ValueError:
                        ok = False
                    if self.no_ack:  # "the checksum may be ignored by the receiver"
                        ok = True
                    if not ok:
                        self._log(f"<- bad checksum: ${body[:60]!r}#{cs!r}")
                        self._send_raw(b"-")
                        continue
                    if not self.no_ack:
                        self._send_raw(b"+")
                    self._log(f"<- {body[:200].decode('latin-1')}")
                    return body.decode("latin-1")
                if len(self.buf) > 4 * PACKET_SIZE:   # no end in sight: not a packet
                    self._send_raw(b"-")
                    self.buf.clear()
            if not self._fill(None):
                return None

    def send_packet(self, payload: str) -> None:
        """Send one packet; in acknowledgment mode wait for ``+``, resending on ``-``."""
        data = frame(payload)
        self._log(f"-> {payload[:200]}")
        self.last_sent = data
        self._send_raw(data)
        if self.no_ack:
            return
        for _ in range(self.MAX_RETRANSMIT):
            while not self.buf:
                if not self._fill(None):
                    return
            b = self.buf[0]
            if b == ord("+"):
                del self.buf[0]
                return
            if b == ord("-"):
                del self.buf[0]
                self._send_raw(data)
                continue
            if b == ord("$"):
                return   # a new packet instead of an ack: take it as acknowledged
            del self.buf[0]  # noise (e.g. an interrupt byte racing the reply)
        self._log("giving up retransmitting after repeated NAKs")

    def poll_interrupt(self) -> bool:
        """Did GDB send the interrupt byte 0x03 (or hang up) since the last look?"""
        if not self._fill(0.0):
            return True
        i = self.buf.find(b"\x03")
        if i >= 0:
            del self.buf[i]
            return True
        return False

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log(text)


@dataclass
class ServeResult:
    """How :meth:`GdbServer.serve` ended.

    ``reason``: ``"detach"`` (GDB detached or quit), ``"kill"`` (``kill``), ``"disconnect"``
    (the connection closed without either), or ``"exited"`` (``wait=False`` only: the guest
    powered off before a debugger attached). ``exit`` is the machine's last exit, if it ran.
    """

    reason: str
    exit: ExitInfo | None


class GdbServer:
    """Serve GDB sessions, one at a time, on a QEMU-style address (see :func:`parse_address`):
    :meth:`serve` serves one, :meth:`serve_run` serves one after another until the run ends.

    ``symbols`` is handed to the REPL behind ``monitor``. ``chunk`` is how many instructions
    run between two looks for GDB's Ctrl-C. ``log`` receives a packet trace (like GDB's
    ``set debug remote 1``).
    """

    def __init__(self, machine: Machine, *, symbols: Any = None, chunk: int = 200_000,
                 log: Callable[[str], None] | None = None):
        self.m = machine
        self.symbols = symbols
        self.chunk = chunk
        self.log = log
        self._listener: socket.socket | None = None
        self._unix_path: str | None = None
        self.address: str | None = None
        self.session: GdbSession | None = None

    def listen(self, address: str) -> str:
        """Bind and listen; returns the address actually bound (with the port chosen by the
        system for ``tcp::0``)."""
        if self._listener is not None:
            raise RuntimeError(f"already listening on {self.address}")
        family, where = parse_address(address)
        if family == "unix":
            try:
                if stat.S_ISSOCK(os.stat(where).st_mode):
                    os.unlink(where)   # a stale socket from an earlier run
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(where)
            self._unix_path = where
            self.address = f"unix:{where}"
        else:
            s = socket.socket(socket.AF_INET6 if family == "tcp6" else socket.AF_INET,
                              socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(where)
            host, port = s.getsockname()[:2]
            self.address = f"tcp:{'[' + host + ']' if ':' in host else host}:{port}"
        s.listen(1)
        self._listener = s
        return self.address

    @property
    def port(self) -> int | None:
        """The TCP port listened on, if any."""
        if self.address and self.address.startswith("tcp:"):
            return int(self.address.rsplit(":", 1)[1])
        return None

    def serve(self, address: str | None = None, wait: bool = True) -> ServeResult:
        """Listen (unless :meth:`listen` was called) and serve one session to its end.

        ``wait=True`` (QEMU ``-S``): the guest does not run until GDB connects and resumes it.
        ``wait=False``: the guest runs now; when GDB connects it is stopped where it is, and
        ``serve`` returns ``"exited"`` if it powers off before anyone connects.
        """
        if self._listener is None:
            if address is None:
                raise ValueError("no address to listen on")
            self.listen(address)
        initial: str | None = None
        if not wait:
            result = self._run_until_connection()
            if isinstance(result, ServeResult):
                return result
            initial = result
        conn_sock, _ = self._listener.accept()
        try:
            return self._session(conn_sock, initial)
        finally:
            try:
                conn_sock.close()
            except OSError:
                pass

    def serve_run(self, wait: bool = True, max_insns: int | None = None) -> ServeResult:
        """Serve sessions one after another until the run ends, as QEMU's ``-gdb`` does: when
        a client detaches (or its connection drops) the guest runs on and the server keeps
        listening; the next client stops it where it is. :meth:`listen` first.

        The first session is as :meth:`serve` (``wait``). Returns ``"kill"`` (a client killed
        the run), ``"exited"`` (the guest powered off or asked for a reset), ``"stopped"`` (with
        no client attached, the guest stopped for good: every PE off or asleep for ever, an
        emulator error) or ``"budget"`` (``max_insns`` instructions ran with no client
        attached). ``exit`` is the machine's last exit, its ``instructions`` the total run
        with no client attached."""
        if self._listener is None:
            raise ValueError("listen() first")
        result = self.serve(wait=wait)
        left, total = max_insns, 0
        while result.reason in ("detach", "disconnect") and self.m.power_off_reason is None:
            while not select.select([self._listener], [], [], 0)[0]:
                if left is not None and left <= 0:
                    return self._ended("budget", total)
                info = self.m.run(max_insns=self.chunk if left is None else
                                  min(self.chunk, left))
                total += info.instructions
                if left is not None:
                    left -= info.instructions
                if info.reason in ("system_off", "system_reset"):
                    return self._ended("exited", total)
                if info.reason != "budget":
                    return self._ended("stopped", total)
            result = self.serve(wait=True)   # the machine is stopped until the client resumes
        if result.reason == "exited" or self.m.power_off_reason is not None:
            return ServeResult("exited", self.m.last_exit)
        return result

    def _ended(self, reason: str, instructions: int) -> ServeResult:
        info = self.m.last_exit
        if info is not None:
            info.instructions = instructions
        return ServeResult(reason, info)

    def _run_until_connection(self) -> ServeResult | str | None:
        """Run the guest until a client connects (→ None: report a plain stop), it stops for
        good (→ the stop reply the client will get) or powers off (→ ServeResult)."""
        probe = GdbSession(self.m, symbols=self.symbols, chunk=self.chunk, log=self.log)
        while True:
            ready, _, _ = select.select([self._listener], [], [], 0)
            if ready:
                return None
            info = self.m.run(max_insns=self.chunk)
            if info.reason == "budget":
                continue
            if info.reason in ("system_off", "system_reset"):
                return ServeResult("exited", info)
            stop = probe._report(info)
            for packet in probe.emitted:   # O packets cannot be sent before a session
                self._log_note(packet)
            return stop

    def _session(self, sock: socket.socket, initial: str | None) -> ServeResult:
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, self.log)
        s = GdbSession(self.m, symbols=self.symbols, chunk=self.chunk, log=self.log,
                       initial_stop=initial)
        self.session = s
        s.interrupt_check = conn.poll_interrupt
        s.emit = conn.send_packet
        try:
            while True:
                payload = conn.read_packet()
                if payload is None:
                    return ServeResult("disconnect", self.m.last_exit)
                reply = s.handle_packet(payload)
                if reply is not None:
                    conn.send_packet(reply)
                if payload == "QStartNoAckMode" and reply == "OK":
                    conn.no_ack = True   # after GDB acknowledged the OK, as the manual orders
                if s.ended is not None:
                    return ServeResult(s.ended, self.m.last_exit)
                if conn.closed:
                    return ServeResult("disconnect", self.m.last_exit)
        finally:
            s.release()

    def _log_note(self, packet: str) -> None:
        if self.log is not None:
            self.log(bytes.fromhex(packet[1:]).decode("utf-8", "replace").rstrip())

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._unix_path is not None:
            try:
                os.unlink(self._unix_path)
            except FileNotFoundError:
                pass
            self._unix_path = None

    def __enter__(self) -> "GdbServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
