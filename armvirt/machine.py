"""``Machine``: the Python face of the emulator — build a board, load, run, look inside.

It owns the machine arrays (``armvirt.layout``) and the loop of KVM_RUN-like calls into the
jitted engine, handling each exit in Python: draining the UART, answering PSCI calls and
accesses to devices modelled in Python, draining traces. Everything a debugger needs — any
register of any PE and EL, physical memory, breakpoints, snapshots — is here too.

    >>> from armvirt import Machine
    >>> m = Machine(ram_size=64 << 20)
    >>> m.load_elf("build/guests/hello.elf")     # doctest: +SKIP
    >>> m.run()                                  # doctest: +SKIP
    ExitInfo(reason='system_off', ...)
"""
from __future__ import annotations

import mmap
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

import numpy as np

from armvirt import costs
from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import sysreg_table as T
from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
from armvirt.cpu.pstate import drop_cached_translations, get_psr, read_sp_el, write_sp_el

if TYPE_CHECKING:
    from armvirt.walk import Walk

INTERNAL_REASONS = {2: "an instruction made more accesses to Python devices than supported"}


class MachineError(Exception):
    """A request the machine cannot carry out (bad address, unknown register, ...)."""


class Device(Protocol):
    """A device modelled in Python, answering MMIO exits (offsets relative to its base)."""

    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


@dataclass
class ExitInfo:
    """Why ``Machine.run`` returned."""

    reason: str           # system_off | system_reset | budget | breakpoint | watchpoint | hook |
    #                       idle | halt | internal
    pe: int = 0
    pc: int = 0
    detail: str = ""
    instructions: int = 0  # retired during this call, all PEs
    addr: int | None = None  # watchpoint: the data address accessed
    insn_pc: int | None = None  # watchpoint: the instruction that made the access
    watchpoint: "Watchpoint | None" = None


@dataclass
class Watchpoint:
    addr: int               # first byte watched (virtual address)
    size: int
    kind: str               # "r", "w" or "rw"
    el_mask: int
    id: int = 0


@dataclass
class Breakpoint:
    addr: int               # the address the user gave
    pa: int                 # physical address it resolved to
    va: int                 # virtual address to match, or -1 for any
    el_mask: int            # bit n: stop at ELn
    temporary: bool = False
    id: int = 0
    vmid: int = -1          # stop only in this VM (stage 2 VMID), -1: anywhere


@dataclass
class Hook:
    """A callback on an event of the core, armed as data in the jitted loop (``S_HOOKS``):
    ``kind`` "exception" (entry, after the vector is entered) or "eret" (after the return);
    ``el_mask`` the EL entered / returned to; ``ec`` the exception class to match (None: any,
    -2: interrupts only). ``callback(machine, event)`` returns True to stop the run."""
    kind: str
    callback: Callable[["Machine", "HookEvent"], object]
    el_mask: int
    ec: int | None
    id: int = 0


@dataclass(frozen=True)
class HookEvent:
    hook: Hook
    pe: int
    el: int          # the EL entered (exception) or returned to (eret)
    esr: int | None  # the syndrome of a synchronous exception; None for interrupts and erets
    pc: int          # where the PE is now: the vector, or the return address


def _el_mask(el: int | Iterable[int] | None) -> int:
    """Bit n set: applies at ELn. None means every EL."""
    els = [el] if isinstance(el, int) else (list(el) if el is not None else [0, 1, 2])
    for e in els:
        if e not in (0, 1, 2):
            raise MachineError(f"no EL{e} (armvirt implements EL0-EL2)")
    return sum(1 << e for e in els)


def _u64(v: int) -> int:
    return int(v) & ((1 << 64) - 1)


_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)


def _lazy_zeros(n: int, what: str) -> np.ndarray:
    """``n`` int64 zeros in anonymous memory that the OS commits page by page as it is first
    written, with no up-front commitment (MAP_NORESERVE): under Linux's default overcommit
    heuristic, np.zeros refuses any single array larger than the host's RAM + swap even though
    it would be committed lazily too. A refusal is a MachineError, not a numpy traceback."""
    size = n * 8
    try:
        if hasattr(mmap, "MAP_ANONYMOUS"):
            buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS |
                            _MAP_NORESERVE)
            return np.frombuffer(buf, dtype=np.int64)
        return np.zeros(n, dtype=np.int64)
    except (OSError, MemoryError, OverflowError) as e:
        raise MachineError(f"cannot allocate {size >> 20} MiB of host memory for {what}: "
                           f"{getattr(e, 'strerror', None) or e}") from None


def _va(v: int) -> int:
    """A virtual address as a person gives it: a 64-bit unsigned number (stored in the core's
    int64 arrays as its two's complement, ``_s64``)."""
    if not 0 <= int(v) < 1 << 64:
        raise MachineError(f"address {int(v):#x} is not a 64-bit address")
    return int(v)


def _s64(v: int) -> int:
    v = int(v) & ((1 << 64) - 1)
    return v - (1 << 64) if v >> 63 else v


class Machine:
    """A `virt` board with ``smp`` PEs and ``ram_size`` bytes of RAM at 0x4000_0000."""

    TRACE_KEEP = 100_000    # exception events kept in trace_events (a ring: older ones drop)

    def __init__(self, ram_size: int = memmap.RAM_SIZE_DEFAULT, smp: int = 1, *,
                 psci_conduit: str = "hvc", uart: Callable[[bytes], None] | None = None,
                 trace: Iterable[str] = (), rtc_epoch: int | None = None,
                 flash: bool = False, profile: "str | costs.Profile | None" = None):
        if not 1 <= smp <= memmap.MAX_PES:
            raise MachineError(f"--smp must be between 1 and {memmap.MAX_PES}, not {smp}")
        if ram_size <= 0 or ram_size % 4096 or ram_size > memmap.RAM_SIZE_MAX:
            raise MachineError(f"RAM size must be a positive multiple of 4 KiB up to "
                               f"{memmap.RAM_SIZE_MAX >> 30} GiB, not {ram_size}")
        from armvirt.cpu.sysregs import build_tables
        from armvirt.isa._decoder import NUM_OPS
        self.smp = smp
        self.ram_size = ram_size
        self.boot_el = 1          # the EL PE 0 was started at (boot_pe)
        # One int64 array for machine-wide state, carved into named views (layout.S_*).
        self.state = np.zeros(L.S_SIZE, dtype=np.int64)
        self.mach = self.state[:L.MACH_SIZE]
        sr_index, sr_info = build_tables()
        self.state[L.S_SR_INDEX:L.S_SR_INDEX + sr_index.size] = sr_index
        self.state[L.S_SR_INFO:L.S_SR_INFO + sr_info.size] = sr_info.ravel()
        # The cost profile (armvirt/costs.py): data the core reads, so any profile runs on the
        # same compiled code. reset_pe gives each PE its counter rate.
        self.profile = costs.load(profile)
        self.profile.apply(self.state)
        self.unimp = self.state[L.S_UNIMP:L.S_UNIMP + 2 * NUM_OPS].reshape(NUM_OPS, 2)
        self.trace_ring = self.state[L.S_TRACE:L.S_TRACE + L.TRACE_CAP * L.TRACE_WIDTH] \
            .reshape(L.TRACE_CAP, L.TRACE_WIDTH)
        self.bp_table = self.state[L.S_BP:L.S_BP + L.BP_CAP * L.BP_WIDTH] \
            .reshape(L.BP_CAP, L.BP_WIDTH)
        self.wp_table = self.state[L.S_WP:L.S_WP + L.WP_CAP * L.WP_WIDTH] \
            .reshape(L.WP_CAP, L.WP_WIDTH)
        self.uart_tx = self.state[L.S_UART_TX:L.S_UART_TX + L.UART_TX_CAP]
        self.uart_rx = self.state[L.S_UART_RX:L.S_UART_RX + L.UART_RX_CAP]
        self.cpus = np.zeros((smp, L.CPU_SIZE), dtype=np.int64)
        # RAM as 64-bit words with a byte view of the same memory; the decode cache holds
        # (op << 32) | word per 32-bit word (2 bytes per byte of RAM). Both are committed by
        # the host only where touched, so a 16 GiB board costs what the guest uses. With
        # ``flash`` the two flash banks follow RAM in the same arrays (layout.RAM_BYTES), so
        # firmware executes in place like code in RAM (armvirt/pflash.py).
        self.flash = bool(flash)
        total = ram_size + (2 * memmap.FLASH_BANK_SIZE if flash else 0)
        self.mem64 = _lazy_zeros(total // 8, "RAM")
        self.mem8 = self.mem64.view(np.uint8)
        self.mem_dcache = _lazy_zeros(total // 4, "the decode cache")
        self.ram64 = self.mem64[:ram_size // 8]
        self.ram = self.mem8[:ram_size]
        self.dcache = self.mem_dcache[:ram_size // 4]
        self.M = (self.state, self.cpus, self.mem8, self.mem64, self.mem_dcache)
        self.mach[L.RAM_BYTES] = ram_size
        conduits = {"none": L.CONDUIT_NONE, "hvc": L.CONDUIT_HVC, "smc": L.CONDUIT_SMC}
        if psci_conduit not in conduits:
            raise MachineError(f"unknown PSCI conduit {psci_conduit!r}")
        self.psci_conduit = psci_conduit
        self.mach[L.PSCI_CONDUIT] = conduits[psci_conduit]
        self.mach[L.NUM_PES] = smp
        self.mach[L.STEP_BREAK] = -1
        self.mach[L.ONLY_PE] = -1
        self.set_trace(trace)
        from armvirt.trace import EventRing
        # Drained events when there is no trace_sink: the last TRACE_KEEP only.
        self.trace_events = EventRing(self.TRACE_KEEP)
        self.trace_sink: Callable[[tuple[int, ...]], None] | None = None
        self.console = bytearray()          # everything the UART transmitted
        self._chunk = 1_000_000             # instructions per call of the loop (see run)
        self.uart_sink = uart
        # Console input (armvirt/console.py): ``uart_source(timeout)`` returns the bytes typed
        # so far (b"" for none, None once the input has ended), waiting up to ``timeout``
        # seconds for some. ``run`` polls it every INPUT_POLL_SECONDS of host time and, with
        # ``uart_source_waits`` (a person at a terminal), waits on it when every PE sleeps.
        self.uart_source: Callable[[float], bytes | None] | None = None
        self.uart_source_waits = False
        self._last_poll = 0.0
        # Stuck-guest reports (``_watch_stuck``): called with one line per PE found spinning
        # in a few instructions with interrupts masked; also kept in ``stuck_reports``.
        self.stuck_sink: Callable[[str], None] | None = None
        self.stuck_reports: list[str] = []
        self._spin: dict[int, list[int]] = {}
        self.devices: list[tuple[int, int, Device]] = []
        self.breakpoints: list[Breakpoint] = []
        self.watchpoints: list[Watchpoint] = []
        self.hooks: list[Hook] = []
        # The board's Python devices (PL031 RTC, empty virtio-mmio slots), in the DTB too.
        from armvirt import board
        board.attach(self, board.DEFAULT_RTC_EPOCH if rtc_epoch is None else rtc_epoch)
        self.board_devices = True
        self.flash_banks: list = []
        if flash:
            from armvirt import pflash
            self.flash_banks = pflash.attach(self, None)
        self._next_bp = 1
        self.last_exit: ExitInfo | None = None
        self.power_off_reason: str | None = None
        from armvirt.devices.pl011 import pl011_reset
        from armvirt.devices.gic import gic_reset
        pl011_reset(self.mach)
        gic_reset(self.state, smp)
        for pe in range(smp):
            self.reset_pe(pe)
            self.cpus[pe][L.POWER] = L.POWER_OFF if pe else L.POWER_ON

    def set_profile(self, profile) -> None:
        """Use another cost profile (armvirt/costs.py: a name, a TOML path or a Profile) from
        now on. Cycles already counted stay; timer deadlines computed under the old clock
        keep their cycle counts until their registers are written again."""
        self.profile = costs.load(profile)
        self.profile.apply(self.state, self.cpus)

    # ------------------------------------------------------------------ reset and boot
    def mpidr(self, pe: int) -> int:
        """MPIDR_EL1 of PE ``pe``: Aff0 = pe, bit 31 RES1 (as QEMU's virt with <= 8 PEs)."""
        return (1 << 31) | pe

    def pe_by_mpidr(self, mpidr: int) -> int | None:
        for pe in range(self.smp):
            if (self.mpidr(pe) & 0xFF_00FF_FFFF) == (mpidr & 0xFF_00FF_FFFF):
                return pe
        return None

    def reset_pe(self, pe: int) -> None:
        """Warm reset of one PE: every register to its reset value, at EL2 with SP_EL2."""
        from armvirt.cpu.sysregs import reset_values
        c = self.cpus[pe]
        c[:] = 0
        for slot, value in reset_values():
            c[slot] = value
        from armvirt.cpu import _sysregs as SR
        c[SR.MPIDR_EL1] = self.mpidr(pe)
        c[SR.VMPIDR_EL2] = self.mpidr(pe)
        c[SR.CNTFRQ_EL0] = costs.COUNTER_HZ
        c[L.TICK_CYCLES] = self.profile.cycles_per_tick
        c[L.EL] = 2
        c[L.SPSEL] = 1
        c[L.DAIF] = 0xF
        c[L.DEADLINE] = L.NEVER
        drop_cached_translations(c)
        c[L.PE_INDEX] = pe
        c[L.POWER] = L.POWER_OFF

    def boot_pe(self, pe: int, entry: int, *, el: int = 1, x0: int = 0, x1: int = 0,
                x2: int = 0, x3: int = 0, sp: int | None = None) -> None:
        """Start PE ``pe`` at ``entry`` in ELx with SP_ELx selected, as firmware hands over to
        an OS (MMU and caches off, DAIF masked)."""
        if el not in (1, 2):
            raise MachineError(f"can only enter at EL1 or EL2, not EL{el}")
        from armvirt.cpu.pstate import set_el_spsel
        c = self.cpus[pe]
        for i, v in enumerate((x0, x1, x2, x3)):
            c[i] = _s64(v)
        set_el_spsel(c, el, 1)
        if sp is not None:
            c[L.SP] = _s64(sp)
        c[L.PC] = _s64(entry)
        c[L.DAIF] = 0xF
        c[L.POWER] = L.POWER_ON
        drop_cached_translations(c)
        if pe == 0:
            self.boot_el = el     # the EL software was given: PSCI CPU_ON starts PEs there

    def flash_arrays(self, bank: int) -> tuple[np.ndarray, np.ndarray]:
        """The bytes of flash bank ``bank`` and the decode-cache words over them."""
        if not self.flash:
            raise MachineError("this machine has no flash (Machine(flash=True), --bios)")
        lo = self.ram_size + bank * memmap.FLASH_BANK_SIZE
        hi = lo + memmap.FLASH_BANK_SIZE
        return self.mem8[lo:hi], self.mem_dcache[lo >> 2:hi >> 2]

    def load_flash(self, bios: bytes, pflash_path: str | None = None) -> None:
        """Firmware in flash bank 0 and the variable store (a file, written back as it
        changes) in bank 1 (``armvirt/pflash.py``). ValueError for an unfit file."""
        from armvirt import pflash
        if not self.flash:
            raise MachineError("this machine has no flash (Machine(flash=True), --bios)")
        self.devices = [d for d in self.devices if d[2] not in self.flash_banks]
        for bank in range(2):
            self.flash_arrays(bank)[0][:] = 0
        self.mem_dcache[self.ram_size >> 2:] = 0
        self.flash_banks = pflash.attach(self, bios, pflash_path)

    def drop_cached_translations(self) -> None:
        """Every PE forgets its cached code and data pages (a memory region changed
        behind them, e.g. a flash bank left read-array mode)."""
        for pe in range(self.smp):
            drop_cached_translations(self.cpus[pe])

    def system_reset(self) -> None:
        """A board reset, as QEMU's ``qemu_system_reset`` on ``virt``: every PE back to its
        reset state and off, the GIC, PL011 and flash banks reset; RAM and the flash contents
        are kept (QEMU clears neither), and so is the machine's time: each PE's cycle count,
        hence the counter and the RTC, carries on. The caller starts PE 0 again."""
        from armvirt.devices.gic import gic_reset
        from armvirt.devices.pl011 import pl011_reset
        cycles = [int(self.cpus[pe][L.CYCLES]) for pe in range(self.smp)]
        for pe in range(self.smp):
            self.reset_pe(pe)
            self.cpus[pe][L.CYCLES] = cycles[pe]
            self.cpus[pe][L.PMU_LAST] = cycles[pe]
        self.state[L.S_TLB:L.S_WALK] = 0   # every PE's TLB
        self.state[L.S_PMU:L.S_PMU + L.PMU_WIDTH * memmap.MAX_PES] = 0
        for slot in (L.MMIO_RESP_N, L.MMIO_RESP_ABORT, L.UART_RX_HEAD, L.UART_RX_TAIL,
                     L.PMU_BR_PES):
            self.mach[slot] = 0
        pl011_reset(self.mach)
        gic_reset(self.state, self.smp)
        for bank in self.flash_banks:
            bank.reset()
        self.power_off_reason = None
        self.last_exit = None

    def power_off_all(self) -> None:
        for pe in range(self.smp):
            self.cpus[pe][L.POWER] = L.POWER_OFF

    # ------------------------------------------------------------------ memory
    def _ram_offset(self, pa: int, size: int) -> int:
        off = pa - memmap.RAM_BASE
        if off < 0 or off + size > self.ram_size:
            raise MachineError(f"physical range 0x{pa:x}+0x{size:x} is outside RAM "
                               f"(0x{memmap.RAM_BASE:x}..0x{memmap.RAM_BASE + self.ram_size:x})")
        return off

    def write_phys(self, pa: int, data: bytes) -> None:
        """Write bytes to RAM (as a loader or DMA would): drops decoded instructions there."""
        off = self._ram_offset(pa, len(data))
        self.ram[off:off + len(data)] = np.frombuffer(bytes(data), dtype=np.uint8)
        self.dcache[off >> 2:(off + len(data) + 3) >> 2] = 0
        self._rearm_breakpoints()

    def _mem_offset(self, pa: int, size: int) -> int:
        """Offset of [pa, pa+size) in the memory arrays: RAM, or a flash bank's contents."""
        bank = (pa - memmap.FLASH_BASE) // memmap.FLASH_BANK_SIZE
        if self.flash and pa >= memmap.FLASH_BASE and bank < 2 and \
                (pa - memmap.FLASH_BASE) % memmap.FLASH_BANK_SIZE + size <= memmap.FLASH_BANK_SIZE:
            return self.ram_size + pa - memmap.FLASH_BASE
        return self._ram_offset(pa, size)

    def read_phys(self, pa: int, size: int) -> bytes:
        """Bytes of RAM, or of flash (its contents, whatever mode the bank is in)."""
        off = self._mem_offset(pa, size)
        return self.mem8[off:off + size].tobytes()

    def read_u64(self, pa: int) -> int:
        return int.from_bytes(self.read_phys(pa, 8), "little")

    def translate(self, va: int, *, access: str = "read", el: int | None = None,
                  regime: str | None = None, unpriv: bool = False, pan: int | None = None,
                  stage2: bool = True, pe: int = 0) -> "Walk":
        """Translate ``va`` as an access from ``el`` (default: the PE's current EL) would, and
        return the whole walk (``armvirt.walk.Walk``): every descriptor of both stages with its
        address, value and decoded fields, then the PA or the fault (type, level, stage,
        S1PTW, IPA). Nothing changes: no TLB fill, no exception, no Access flag update.

        ``access`` is "read", "write" or "exec"; ``regime`` ("el0", "el1"/"el10", "el2") is an
        alternative way to give ``el``; ``unpriv`` checks as LDTR/STTR; ``pan`` overrides
        PSTATE.PAN; ``stage2=False`` stops at the IPA, as AT S1E1R does."""
        from armvirt.cpu import mmu
        from armvirt.walk import from_record
        kinds = {"read": 0, "write": mmu.ACC_WRITE, "exec": mmu.ACC_FETCH}
        if access not in kinds:
            raise MachineError(f"access must be one of {', '.join(kinds)}, not {access!r}")
        if regime is not None:
            regimes = {"el0": 0, "el1": 1, "el10": 1, "el2": 2}
            if regime.lower() not in regimes:
                raise MachineError(f"regime must be one of {', '.join(regimes)}, not {regime!r}")
            el = regimes[regime.lower()]
        c = self.cpus[pe]
        el = int(c[L.EL]) if el is None else el
        if el not in (0, 1, 2):
            raise MachineError(f"no EL{el} on this machine")
        acc = kinds[access] | (mmu.ACC_UNPRIV if unpriv else 0)
        pan = int(c[L.PSTATE_PAN]) if pan is None else int(bool(pan))
        _, ctl = mmu.inspect_el(c, self.M, _s64(va), acc, el, stage2, pan)
        return from_record(self.state, va & (2**64 - 1), el, access, int(ctl))

    def virt_to_phys(self, va: int, *, el: int | None = None, pe: int = 0) -> int:
        """The PA of ``va`` in the translation regime of ``el`` (default: the PE's current EL),
        as a debugger sees memory: a privileged read that ignores PSTATE.PAN, so that anything
        mapped can be inspected. Raises MachineError naming the fault when nothing is mapped."""
        el = int(self.cpus[pe][L.EL]) if el is None else el
        w = self.translate(va, el=max(el, 1), pan=0, pe=pe)
        if w.fault is not None:
            raise MachineError(f"cannot translate 0x{va & (2**64 - 1):x} at EL{el}: {w.fault}")
        return w.pa

    def read_virt(self, va: int, size: int, *, el: int | None = None, pe: int = 0) -> bytes:
        """Read RAM by virtual address (page by page through ``virt_to_phys``)."""
        out = bytearray()
        while size > 0:
            n = min(size, 4096 - (va & 0xFFF))
            out += self.read_phys(self.virt_to_phys(va, el=el, pe=pe), n)
            va, size = va + n, size - n
        return bytes(out)

    def write_virt(self, va: int, data: bytes, *, el: int | None = None, pe: int = 0) -> None:
        """Write RAM by virtual address; every page is translated before the first byte
        is written, so a fault changes nothing."""
        spans, off = [], 0
        while off < len(data):
            n = min(len(data) - off, 4096 - ((va + off) & 0xFFF))
            spans.append((self.virt_to_phys(va + off, el=el, pe=pe), off, n))
            off += n
        for pa, off, n in spans:
            self._ram_offset(pa, n)
        for pa, off, n in spans:
            self.write_phys(pa, data[off:off + n])

    def tlb_entries(self, pe: int = 0) -> list[dict]:
        """The valid entries of a PE's software TLB: input page, output page, IPA page,
        regime, ASID (None for global entries), VMID and the decoded attributes."""
        from armvirt.cpu import mmu
        from armvirt.walk import Walk
        base = L.S_TLB + pe * L.TLB_PE_SIZE
        tlb = self.state[base:base + L.TLB_PE_SIZE].reshape(L.TLB_ENTRIES, L.TLB_WIDTH)
        out = []
        for e in tlb[tlb[:, mmu.TE_CTX] != 0]:
            ctx = int(e[mmu.TE_CTX])
            el2 = bool(ctx & mmu.CTX_EL2)
            attrs = Walk(va=0, el=0, access="", stage1=False, stage2=False,
                         info=int(e[mmu.TE_INFO])).attributes
            out.append({"va": _u64(int(e[mmu.TE_VPAGE]) << 12), "pa": int(e[mmu.TE_PA]),
                        "ipa": int(e[mmu.TE_IPA]), "regime": "EL2" if el2 else "EL1&0",
                        "asid": None if (ctx & mmu.CTX_GLOBAL or el2)
                        else (ctx >> mmu.CTX_ASID_SHIFT) & 0xFFFF,
                        "vmid": None if el2 else (ctx >> mmu.CTX_VMID_SHIFT) & 0xFF,
                        "stage1": bool(ctx & mmu.CTX_S1), "stage2": bool(ctx & mmu.CTX_S2),
                        **attrs})
        return sorted(out, key=lambda d: (d["regime"], d["vmid"] or 0, d["va"]))

    def tlb_stats(self, pe: int = 0) -> dict:
        """TLB hits, misses and descriptor reads of a PE so far (and reads per miss)."""
        from armvirt.cpu import mmu
        r = L.S_MMU_STATS + pe * mmu.ST_WIDTH
        hits, misses, reads = (int(x) for x in self.state[r:r + 3])
        return {"hits": hits, "misses": misses, "descriptor_reads": reads,
                "reads_per_miss": reads / misses if misses else 0.0}

    def add_device(self, base: int, size: int, device: Device) -> None:
        """Map a Python device at [base, base+size); the core exits to it on every access."""
        for b, s, _ in self.devices:
            if base < b + s and b < base + size:
                raise MachineError(f"device at 0x{base:x} overlaps one at 0x{b:x}")
        self.devices.append((base, size, device))

    # ------------------------------------------------------------------ registers
    def reg(self, name: str, pe: int = 0) -> int:
        """Read a register by name: x0..x30, w0..w30, sp, pc, nzcv, pstate, el, daif, spsel,
        sp_el0/1/2, v0..v31 / q0..q31 / d0..d31, cycles, instret, or any system register."""
        c = self.cpus[pe]
        n = name.lower()
        if n.startswith("x") and n[1:].isdigit() and int(n[1:]) <= 30:
            return _u64(c[int(n[1:])])
        if n.startswith("w") and n[1:].isdigit() and int(n[1:]) <= 30:
            return _u64(c[int(n[1:])]) & 0xFFFF_FFFF
        if n[:1] in "vqd" and n[1:].isdigit() and int(n[1:]) <= 31:
            i = int(n[1:])
            lo, hi = _u64(c[L.V_BASE + 2 * i]), _u64(c[L.V_BASE + 2 * i + 1])
            return lo if n[0] == "d" else lo | (hi << 64)
        simple = {"sp": L.SP, "pc": L.PC, "el": L.EL, "daif": L.DAIF, "spsel": L.SPSEL,
                  "cycles": L.CYCLES, "instret": L.INSTRET}
        if n in simple:
            return _u64(c[simple[n]])
        if n == "nzcv":
            return int(c[L.NZCV]) << 28
        if n in ("pstate", "cpsr"):
            return _u64(get_psr(c))
        if n in ("sp_el0", "sp_el1", "sp_el2"):
            return _u64(read_sp_el(c, int(n[-1])))
        return _u64(self._sysreg_slot_value(name, c))

    def set_reg(self, name: str, value: int, pe: int = 0) -> None:
        c = self.cpus[pe]
        n = name.lower()
        v = _s64(value)
        if n.startswith("x") and n[1:].isdigit() and int(n[1:]) <= 30:
            c[int(n[1:])] = v
        elif n.startswith("w") and n[1:].isdigit() and int(n[1:]) <= 30:
            c[int(n[1:])] = v & 0xFFFF_FFFF
        elif n[:1] in "vqd" and n[1:].isdigit() and int(n[1:]) <= 31:
            i = int(n[1:])
            c[L.V_BASE + 2 * i] = _s64(value)
            c[L.V_BASE + 2 * i + 1] = 0 if n[0] == "d" else _s64(int(value) >> 64)
        elif n == "sp":
            c[L.SP] = v
        elif n == "pc":
            c[L.PC] = v
        elif n == "nzcv":
            c[L.NZCV] = (int(value) >> 28) & 0xF
        elif n in ("sp_el0", "sp_el1", "sp_el2"):
            write_sp_el(c, int(n[-1]), v)
        elif n in ("el", "spsel"):
            from armvirt.cpu.pstate import set_el_spsel
            el = int(value) if n == "el" else int(c[L.EL])
            spsel = int(value) if n == "spsel" else int(c[L.SPSEL])
            if not (0 <= el <= 2 and spsel in (0, 1)):
                raise MachineError(f"invalid {n} {value}")
            set_el_spsel(c, el, spsel)
        elif n == "daif":
            c[L.DAIF] = int(value) & 0xF
        else:
            slot = self._slot_of(name)
            if slot is None:
                raise MachineError(f"no writable register named {name!r}")
            device = self._sysreg(name).kind not in (T.KIND_PLAIN, T.KIND_CONST,
                                                      T.KIND_SPECIAL)
            if device:   # the PMU's counters count up to now under the old settings
                from armvirt.devices.pmu_counter import pmu_sync
                pmu_sync(c, self.M, int(c[L.EL]))
            c[slot] = v
            if device:
                self._devices_changed(pe)
            if self._sysreg(name).traps & (T.TRAP_TDA | T.TRAP_TDOSA):
                from armvirt.cpu.debug import debug_rearm
                debug_rearm(c)   # a guest debug register: what is armed may have changed
        drop_cached_translations(c)
        c[L.ATTN] = 1  # e.g. HCR_EL2.VI or DAIF: let the loop re-check before the next insn

    @staticmethod
    def _sysreg(name: str) -> T.SysReg | None:
        return _SYSREG_BY_UPPER.get(name.upper())

    def _slot_of(self, name: str) -> int | None:
        """Slot of a stored system register (None for unknown or constant registers)."""
        from armvirt.cpu import _sysregs as SR
        r = self._sysreg(name)
        return getattr(SR, r.name, None) if r is not None else None

    def _sysreg_slot_value(self, name: str, c: np.ndarray) -> int:
        """A system register's value as MRS at the PE's current EL would read it, without
        the access checks: computed registers (CurrentEL, the counters, ISR_EL1, ...) are
        computed by the core's own code."""
        r = self._sysreg(name)
        if r is None:
            raise MachineError(f"no register named {name!r}")
        if r.kind == T.KIND_SPECIAL:
            from armvirt.cpu.sysregs import _read_special
            return int(_read_special(c, self.M, r.encoding))
        if r.kind not in (T.KIND_PLAIN, T.KIND_CONST):   # a device's register
            from armvirt.cpu.sysregs import device_sysreg_peek
            return int(device_sysreg_peek(c, self.M, r.encoding, r.kind))
        slot = self._slot_of(r.name)
        if slot is None:
            return r.reset  # a constant register (ID registers and the like)
        return int(c[slot])

    # ------------------------------------------------------------------ breakpoints
    def add_breakpoint(self, addr: int, *, el: int | Iterable[int] | None = None,
                       temporary: bool = False, vmid: int | None = None) -> Breakpoint:
        """Stop before executing the instruction at virtual address ``addr``, optionally only
        at the given EL(s) and only in the VM with stage 2 VMID ``vmid`` (EL0/EL1 with
        HCR_EL2.VM set) — the same VA is different code in the hypervisor and in each guest.

        The breakpoint is bound to the PA its page maps to whenever the PE enters that page
        (``memory.bind_breakpoints``); it may be set before its page is mapped at all."""
        if len(self.breakpoints) >= L.BP_CAP:
            raise MachineError(f"at most {L.BP_CAP} breakpoints")
        addr = _va(addr)
        if addr & 3:
            raise MachineError(f"0x{addr:x} is not an instruction address (A64 instructions "
                               f"are 4-byte aligned)")
        mask = _el_mask(el)
        if vmid is not None and not 0 <= vmid <= 0xFF:
            raise MachineError(f"VMIDs are 8 bits: {vmid}")
        try:
            pa = self.virt_to_phys(addr, el=2 if mask == 4 else 1)
        except MachineError:
            pa = -1           # not mapped now: bound when its page is entered
        else:
            self._mem_offset(pa, 4)       # mapped, but not to memory: nothing to execute there
        bp = Breakpoint(addr, pa, addr, mask, temporary, self._next_bp,
                        -1 if vmid is None else vmid)
        self._next_bp += 1
        self.breakpoints.append(bp)
        try:
            self._rearm_breakpoints()
        except Exception:   # never leave a recorded breakpoint the core does not have
            self.breakpoints.remove(bp)
            self._rearm_breakpoints()
            raise
        return bp

    def remove_breakpoint(self, bp: Breakpoint | int) -> None:
        bid = bp if isinstance(bp, int) else bp.id
        before = len(self.breakpoints)
        self.breakpoints = [b for b in self.breakpoints if b.id != bid]
        if len(self.breakpoints) == before:
            raise MachineError(f"no breakpoint {bid}")
        self._rearm_breakpoints()

    def _rearm_breakpoints(self) -> None:
        """Rewrite the breakpoint table and drop the decoded form of every word that had or
        has a breakpoint, so the loop marks (or unmarks) them when it decodes them again."""
        old = self.bp_table[:int(self.mach[L.BP_COUNT]), 0].copy()
        self.mach[L.BP_COUNT] = len(self.breakpoints)
        for i, b in enumerate(self.breakpoints):   # VAs as the core keeps them: int64
            self.bp_table[i] = (b.pa, _s64(b.va), b.el_mask, b.vmid)
        for pa in list(old) + [b.pa for b in self.breakpoints]:
            try:
                self.mem_dcache[self._mem_offset(int(pa), 4) >> 2] = 0
            except MachineError:
                pass
        for c in self.cpus:   # the next fetch re-enters its page and binds breakpoints there
            c[L.CODE_VPAGE] = L.CODE_VPAGE_NONE

    # ------------------------------------------------------------------ hooks
    HOOK_KINDS = {"exception": TR_EXC_ENTRY, "eret": TR_EXC_RETURN}

    def add_hook(self, kind: str, callback: Callable[["Machine", HookEvent], object], *,
                 el: int | Iterable[int] | None = None, ec: int | str | None = None) -> Hook:
        """Call ``callback(machine, event)`` whenever a PE takes an exception (``kind=
        "exception"``: after entering the vector) or returns from one (``"eret"``), optionally
        only for the EL(s) entered/returned to and one exception class (``ec=0x16``, or
        ``"interrupt"`` for IRQ/FIQ/SError). The filter is data in the jitted loop: unmatched
        events cost one table scan, and nothing at all while no hook is armed. A callback that
        returns True stops the run (``ExitInfo(reason="hook")``); otherwise it continues."""
        if kind not in self.HOOK_KINDS:
            raise MachineError(f"hook kind must be one of {', '.join(self.HOOK_KINDS)}, "
                               f"not {kind!r}")
        if len(self.hooks) >= L.HOOK_CAP:
            raise MachineError(f"at most {L.HOOK_CAP} hooks")
        if isinstance(ec, str):
            if ec != "interrupt":
                raise MachineError("ec must be an exception class number or 'interrupt'")
            ec = -2
        elif ec is not None and not 0 <= ec <= 0x3F:
            raise MachineError(f"exception classes are 6 bits: {ec:#x}")
        h = Hook(kind, callback, _el_mask(el), ec, self._next_bp)
        self._next_bp += 1
        self.hooks.append(h)
        self._rearm_hooks()
        return h

    def remove_hook(self, hook: Hook) -> None:
        if hook not in self.hooks:
            raise MachineError(f"no hook {hook.id}")
        self.hooks.remove(hook)
        self._rearm_hooks()

    def _rearm_hooks(self) -> None:
        self.mach[L.HOOK_COUNT] = len(self.hooks)
        for i, h in enumerate(self.hooks):
            r = L.S_HOOKS + i * L.HOOK_WIDTH
            self.state[r:r + L.HOOK_WIDTH] = (self.HOOK_KINDS[h.kind], h.el_mask,
                                              -1 if h.ec is None else h.ec)

    # ------------------------------------------------------------------ watchpoints
    def add_watchpoint(self, addr: int, size: int = 8, kind: str = "w", *,
                       el: int | Iterable[int] | None = None) -> Watchpoint:
        """Stop when an instruction reads (``"r"``), writes (``"w"``) or does either (``"rw"``)
        any byte of [addr, addr+size). The run stops *after* that instruction, as GDB expects;
        ``ExitInfo.addr`` is the accessed address and ``insn_pc`` the instruction."""
        if kind not in ("r", "w", "rw"):
            raise MachineError(f"watchpoint kind must be r, w or rw, not {kind!r}")
        if size <= 0:
            raise MachineError("watchpoint size must be positive")
        addr = _va(addr)
        if addr + size > 1 << 64 or addr < 1 << 63 < addr + size:
            raise MachineError(f"watchpoint 0x{addr:x}+{size} runs past the end of the "
                               f"{'address space' if addr >> 63 else 'lower half'}")
        if len(self.watchpoints) >= L.WP_CAP:
            raise MachineError(f"at most {L.WP_CAP} watchpoints")
        wp = Watchpoint(addr, size, kind, _el_mask(el), self._next_bp)
        self._next_bp += 1
        self.watchpoints.append(wp)
        self._rearm_watchpoints()
        return wp

    def remove_watchpoint(self, wp: Watchpoint | int) -> None:
        wid = wp if isinstance(wp, int) else wp.id
        before = len(self.watchpoints)
        self.watchpoints = [w for w in self.watchpoints if w.id != wid]
        if len(self.watchpoints) == before:
            raise MachineError(f"no watchpoint {wid}")
        self._rearm_watchpoints()

    def _rearm_watchpoints(self) -> None:
        self.mach[L.WP_COUNT] = len(self.watchpoints)
        for i, w in enumerate(self.watchpoints):
            kind = (L.WP_READ if "r" in w.kind else 0) | (L.WP_WRITE if "w" in w.kind else 0)
            self.wp_table[i] = (_s64(w.addr), _s64(w.addr + w.size), kind, w.el_mask)
        for pe in range(self.smp):  # watched pages must leave the data-page caches
            drop_cached_translations(self.cpus[pe])

    # ------------------------------------------------------------------ running
    # Host time per call of the jitted loop: Numba masks SIGINT while it runs, and the guest's
    # output waits in the core's UART buffer until the loop returns, so each call is kept
    # short enough that Ctrl-C and console output are prompt (CHUNK_SECONDS), and long
    # enough that the call overhead is noise. Where the loop stops never changes the
    # schedule (ARCHITECTURE.md, "Time and scheduling"), so this costs no determinism.
    CHUNK_SECONDS = 0.05
    CHUNK_MIN, CHUNK_MAX = 10_000, 50_000_000
    INPUT_POLL_SECONDS = 0.02

    def run(self, max_insns: int | None = None) -> ExitInfo:
        """Run until the guest powers off, a breakpoint, an error, or ``max_insns``
        instructions (all PEs together). Ctrl-C (KeyboardInterrupt) is honoured within about
        ``CHUNK_SECONDS``; what the guest printed reaches ``uart`` after every chunk, and
        before any exception leaves this method."""
        from armvirt import engine
        remaining = max_insns if max_insns is not None else 1 << 62
        total = 0
        last = self.last_exit
        if last is not None and last.reason == "breakpoint":
            pc = int(self.cpus[last.pe][L.PC])
            if _u64(pc) == last.pc:
                self.mach[L.STEP_BREAK] = pc
        try:
            while True:
                chunk = min(remaining, self._chunk)
                self.mach[L.EXIT_CODE] = L.EXIT_NONE
                t0 = time.perf_counter()
                code = int(engine.run(self.M, chunk))
                dt = time.perf_counter() - t0
                done = int(self.mach[L.RUN_DONE])
                if done >= chunk:   # ran the whole chunk: fit the next one to the time goal
                    if dt < self.CHUNK_SECONDS / 2:
                        self._chunk = min(self._chunk * 2, self.CHUNK_MAX)
                    elif dt > self.CHUNK_SECONDS * 2:
                        self._chunk = max(self._chunk // 2, self.CHUNK_MIN)
                remaining -= done
                total += done
                info = self._handle_exit(code)
                self._drain_uart()
                if self.uart_source is not None:
                    if info is not None and info.reason == "idle":
                        # Every PE sleeps: only input can wake one. A person may still type:
                        # wait for it. A pipe or a file may hold input not read yet: look
                        # before giving up (a guest waiting in WFI for its receive interrupt).
                        data = self.uart_source(0.1)
                        self._console_input(data)
                        if self.uart_source_waits or data:
                            continue
                    now = time.perf_counter()
                    if now - self._last_poll >= self.INPUT_POLL_SECONDS:
                        self._last_poll = now
                        self._console_input(self.uart_source(0))
                if code == L.EXIT_BUDGET:
                    self._watch_stuck()
                if info is None:  # handled in Python, or a chunk boundary: go on
                    if remaining > 0:
                        continue
                    info = ExitInfo("budget", pe=int(self.mach[L.CUR_PE]))
                self._drain_trace()
                info.instructions = total
                if not info.pc:
                    info.pc = _u64(self.cpus[info.pe][L.PC])
                self.last_exit = info
                return info
        finally:
            self._drain_uart()   # nothing the guest printed is lost, however we leave

    # A PE is reported stuck when every sample of its pc (one per chunk of the run loop) for
    # STUCK_INSNS instructions fell within STUCK_SPAN bytes, with IRQs and FIQs masked
    # throughout: a tight loop nothing can interrupt. It may be waiting for another PE or a
    # device, so this is a report, not a stop; and none is made while console input is
    # connected (a firmware prompt polls the UART in just such a loop).
    STUCK_INSNS = 500_000_000
    STUCK_SPAN = 64
    STUCK_SAMPLES = 8

    def _watch_stuck(self) -> None:
        if self.uart_source is not None:
            return    # firmware at a prompt polls the UART just so: input may still come
        for pe in range(self.smp):
            c = self.cpus[pe]
            masked = (int(c[L.DAIF]) & 3) == 3
            if c[L.POWER] != L.POWER_ON or not masked:
                self._spin.pop(pe, None)
                continue
            pc, insns = _u64(c[L.PC]), int(c[L.INSTRET])
            rec = self._spin.get(pe)
            if rec is None or max(rec[1], pc) - min(rec[0], pc) > self.STUCK_SPAN:
                self._spin[pe] = [pc, pc, insns, 1, 0]
                continue
            rec[0], rec[1], rec[3] = min(rec[0], pc), max(rec[1], pc), rec[3] + 1
            if not rec[4] and rec[3] >= self.STUCK_SAMPLES and \
                    insns - rec[2] >= self.STUCK_INSNS:
                rec[4] = 1     # once per spell
                line = (f"PE{pe} looks stuck: {insns - rec[2]} instructions at EL"
                        f"{int(c[L.EL])} with every sampled pc in 0x{rec[0]:x}..0x{rec[1]:x} "
                        f"and IRQs and FIQs masked (DAIF 0x{int(c[L.DAIF]) << 6:x}) all "
                        f"along: a loop no interrupt can leave, waiting for something that "
                        f"may never come")
                self.stuck_reports.append(line)
                if self.stuck_sink is not None:
                    self.stuck_sink(line)

    def step(self, n: int = 1, pe: int | None = None) -> ExitInfo:
        """Execute ``n`` instructions and stop: on the PEs in their usual deterministic
        interleaving, or, with ``pe``, on that PE alone while the others wait."""
        if pe is None:
            return self.run(max_insns=n)
        if not 0 <= pe < self.smp:
            raise MachineError(f"no PE {pe} (this machine has {self.smp})")
        self.mach[L.ONLY_PE] = pe
        self.mach[L.CUR_PE] = pe
        try:
            return self.run(max_insns=n)
        finally:
            self.mach[L.ONLY_PE] = -1

    def _handle_exit(self, code: int) -> ExitInfo | None:
        """Handle an exit in Python. None: resume the loop; an ExitInfo: return to the caller."""
        mach = self.mach
        pe = int(mach[L.EXIT_PE])
        if code == L.EXIT_UART:
            self._drain_uart()
        elif code == L.EXIT_TRACE:
            self._drain_trace()
        elif code == L.EXIT_MMIO:
            self._python_mmio()
        elif code == L.EXIT_PSCI:
            from armvirt import psci
            reason = psci.handle(self, pe)
            if reason is not None:
                self.power_off_reason = reason
                return ExitInfo(reason, pe=pe)
            if not any(self.cpus[p][L.POWER] == L.POWER_ON for p in range(self.smp)):
                return self._idle_or_halt(pe)
        elif code == L.EXIT_BREAKPOINT:
            addr = _u64(mach[L.EXIT_ADDR])
            hit = [b for b in self.breakpoints if b.va in (-1, addr) or b.pa == addr]
            for b in hit:
                if b.temporary:
                    self.breakpoints.remove(b)
                    self._rearm_breakpoints()
            return ExitInfo("breakpoint", pe=pe, pc=addr)
        elif code == L.EXIT_WATCHPOINT:
            return self._complete_watched_access(pe)
        elif code == L.EXIT_HOOK:
            hook = self.hooks[int(mach[L.EXIT_AUX])]
            esr = int(mach[L.EXIT_VALUE])
            ev = HookEvent(hook, pe, int(self.cpus[pe][L.EL]),
                           None if hook.kind == "eret" or esr < 0 else esr,
                           _u64(mach[L.EXIT_ADDR]))
            if hook.callback(self, ev):
                return ExitInfo("hook", pe=pe, pc=ev.pc)
        elif code in (L.EXIT_HALT, L.EXIT_IDLE):
            return self._idle_or_halt(pe)
        elif code == L.EXIT_INTERNAL:
            aux = int(mach[L.EXIT_AUX])
            return ExitInfo("internal", pe=pe,
                            detail=INTERNAL_REASONS.get(aux, f"internal error {aux}"))
        return None  # EXIT_BUDGET, or handled above: the caller decides whether to go on

    def _complete_watched_access(self, pe: int) -> ExitInfo:
        """The core stopped *before* a watched access and rewound the instruction. Execute
        that one instruction with watchpoints suspended, then report, so the debugger sees the
        access done (GDB shows a write watchpoint's new value)."""
        mach = self.mach
        addr = _u64(mach[L.EXIT_ADDR])
        wp = self.watchpoints[int(mach[L.EXIT_AUX])]
        insn_pc = _u64(self.cpus[pe][L.PC])
        mach[L.WP_SUSPEND] = 1
        mach[L.ONLY_PE] = pe  # only the PE that made the access runs this one step
        try:
            while True:
                mach[L.EXIT_CODE] = L.EXIT_NONE
                from armvirt import engine
                code = int(engine.run(self.M, 1))
                if code == L.EXIT_BUDGET or mach[L.RUN_DONE] or code in (L.EXIT_HALT, L.EXIT_IDLE):
                    break
                info = self._handle_exit(code)
                if info is not None:
                    return info
        finally:
            mach[L.WP_SUSPEND] = 0
            mach[L.ONLY_PE] = -1
        mach[L.CUR_PE] = pe
        return ExitInfo("watchpoint", pe=pe, addr=addr, insn_pc=insn_pc, watchpoint=wp,
                        detail=f"{'write' if mach[L.EXIT_WRITE] else 'read'} of 0x{addr:x}")

    def _idle_or_halt(self, pe: int) -> ExitInfo:
        if any(self.cpus[p][L.POWER] in (L.POWER_WFI, L.POWER_WFE) for p in range(self.smp)):
            return ExitInfo("idle", pe=pe,
                            detail="every running PE waits (WFI/WFE) and nothing can wake it")
        return ExitInfo("halt", pe=pe, detail="every PE is off")

    def _python_mmio(self) -> None:
        mach = self.mach
        pa = _u64(mach[L.EXIT_ADDR])
        size = int(mach[L.EXIT_SIZE])
        k = int(mach[L.MMIO_RESP_N])
        for base, span, dev in self.devices:
            if base <= pa < base + span:
                if mach[L.EXIT_WRITE]:
                    dev.write(pa - base, size, _u64(mach[L.EXIT_VALUE]) & ((1 << (8 * size)) - 1))
                    value = 0
                else:
                    value = dev.read(pa - base, size) & ((1 << (8 * size)) - 1)
                mach[L.MMIO_RESP + k] = _s64(value)
                break
        else:
            mach[L.MMIO_RESP_ABORT] |= 1 << k  # nothing there: external abort
        mach[L.MMIO_RESP_N] = k + 1

    def _drain_uart(self) -> None:
        n = int(self.mach[L.UART_TX_COUNT])
        if n:
            data = self.uart_tx[:n].astype(np.uint8).tobytes()
            self.mach[L.UART_TX_COUNT] = 0
            self.console += data
            if self.uart_sink is not None:
                self.uart_sink(data)

    def _drain_trace(self) -> None:
        n = int(self.mach[L.TRACE_COUNT])
        if n:
            events = [tuple(int(v) for v in row) for row in self.trace_ring[:n]]
            self.mach[L.TRACE_COUNT] = 0
            if self.trace_sink is not None:
                for ev in events:
                    self.trace_sink(ev)
            else:
                self.trace_events.extend(events)

    def set_trace(self, kinds: Iterable[str]) -> None:
        """Which events the core records: "exc" (exception entries and returns, drained to
        ``trace_sink`` or the ring ``trace_events``). "unimp" needs no recording (UNDEFINED
        instructions are always counted); it only says the report was asked for."""
        self.trace = set(kinds)
        self.trace_exceptions(False)

    def trace_exceptions(self, extra: bool) -> None:
        """Record exception events while ``extra`` (a debugger that needs them for a while),
        or while ``set_trace`` asked for "exc"; otherwise the core records nothing, at no
        cost."""
        on = extra or "exc" in self.trace
        self.mach[L.TRACE_FLAGS] = L.TRACE_EXC if on else 0

    def _console_input(self, data: bytes | None) -> None:
        if data is None:          # the input ended: nothing more will come
            self.uart_source = None
        elif data:
            self.uart_input(data)
            for pe in range(self.smp):   # the receive interrupt may wake a sleeping PE
                self.cpus[pe][L.ATTN] = 1

    def uart_input(self, data: bytes) -> None:
        """Queue bytes for the guest to read from the PL011."""
        head, tail = int(self.mach[L.UART_RX_HEAD]), int(self.mach[L.UART_RX_TAIL])
        for b in data:
            if tail - head >= L.UART_RX_CAP:
                break  # the ring is full: drop, as a UART with a full FIFO would
            self.uart_rx[tail % L.UART_RX_CAP] = b
            tail += 1
        self.mach[L.UART_RX_TAIL] = tail
        if tail != head:
            from armvirt.devices.pl011 import INT_RX, pl011_update_irq
            self.mach[L.UART_RIS] |= INT_RX
            pl011_update_irq(self.M)

    # ------------------------------------------------------------------ interrupts
    def _devices_changed(self, pe: int) -> None:
        """A GIC, timer or PMU register of PE ``pe`` was set from outside the guest: bring the
        interrupt lines and the PE's next deadline up to date, as the core does after an MSR."""
        from armvirt.devices.gic import gic_update_pe
        from armvirt.devices.timer import pe_event
        gic_update_pe(self.M, pe)
        pe_event(self.cpus[pe], self.M)

    def set_irq(self, intid: int, level: bool, pe: int = 0) -> None:
        """Drive the input line of an interrupt, as a device would: an SPI (INTID 32-255), or
        PE ``pe``'s PPI (16-31). Level-sensitive interrupts are pending while the line is
        high; an edge-triggered one latches its pending state on the rising edge."""
        from armvirt.devices.gic import NUM_INTIDS, gic_set_ppi, gic_set_spi
        if 32 <= intid < NUM_INTIDS:
            gic_set_spi(self.M, intid, bool(level))
        elif 16 <= intid < 32:
            if not 0 <= pe < self.smp:
                raise MachineError(f"no PE {pe} (this machine has {self.smp})")
            gic_set_ppi(self.M, pe, intid, bool(level))
        else:
            raise MachineError(f"INTID {intid} is not a PPI or SPI of this GIC "
                               f"(16-{NUM_INTIDS - 1})")

    # ------------------------------------------------------------------ GIC, timers, PMU
    def gic_info(self) -> dict:
        """The interrupt controller as plain data, for a debugger's ``info gic``: the
        distributor's control bits; every interrupt that is enabled, pending or active (SGIs
        and PPIs once per PE), with its group, priority, trigger, line and SPI target; and each
        PE's CPU interface (PMR, running priority, HPPI, group enables, EOImode, BPRs, active
        priorities, the lines it drives into the PE)."""
        from armvirt.devices import gic as G
        S = self.state
        ctlr = int(S[L.S_GICD + G.D_CTLR])
        irqs = []
        for intid in range(G.NUM_INTIDS):
            for pe in (range(self.smp) if intid < 32 else (0,)):
                n, bit = intid >> 5, 1 << (intid & 31)

                def word(kind: int) -> bool:
                    return bool(int(S[G.word_at(pe, kind, n)]) & bit)
                edge = word(G.W_EDGE)
                pending = word(G.W_PEND) or (word(G.W_LEVEL) and not edge)
                enabled, active = word(G.W_ENABLE), word(G.W_ACTIVE)
                if not (enabled or pending or active):
                    continue
                row = {"intid": intid, "group": int(word(G.W_GROUP)), "enabled": enabled,
                       "pending": pending, "active": active,
                       "priority": int(S[G.prio_at(pe, intid)]),
                       "trigger": "edge" if edge else "level", "line": word(G.W_LEVEL)}
                if intid < 32:
                    row["pe"] = pe
                else:
                    target = int(S[L.S_GICD + G.D_TARGET + intid])
                    row["route"] = int(S[L.S_GICD + G.D_ROUTE + intid])
                    row["target_pe"] = target if target >= 0 else None
                irqs.append(row)
        pes = []
        names = {L.LINE_IRQ: "irq", L.LINE_FIQ: "fiq", L.LINE_VIRQ: "virq", L.LINE_VFIQ: "vfiq"}
        for pe in range(self.smp):
            c = self.cpus[pe]
            r = G.redist(pe)
            hppi = int(S[r + G.R_HPPI_ID])
            lines = int(c[L.IRQ_LINES])
            pes.append({
                "pe": pe, "waker": int(S[r + G.R_WAKER]),
                "hppi": None if hppi == G.SPURIOUS else hppi,
                "hppi_priority": None if hppi == G.SPURIOUS else int(S[r + G.R_HPPI_PRIO]),
                "pmr": self.reg("ICC_PMR_EL1", pe), "rpr": self.reg("ICC_RPR_EL1", pe),
                "igrpen0": self.reg("ICC_IGRPEN0_EL1", pe),
                "igrpen1": self.reg("ICC_IGRPEN1_EL1", pe),
                "eoimode": (self.reg("ICC_CTLR_EL1", pe) >> 1) & 1,
                "bpr0": self.reg("ICC_BPR0_EL1", pe), "bpr1": self.reg("ICC_BPR1_EL1", pe),
                "ap0r0": self.reg("ICC_AP0R0_EL1", pe), "ap1r0": self.reg("ICC_AP1R0_EL1", pe),
                "lines": [name for bit, name in names.items() if lines & bit]})
        return {"distributor": {"ctlr": (ctlr & 3) | G.CTLR_ARE | G.CTLR_DS,
                                "enable_grp0": bool(ctlr & G.CTLR_ENGRP0),
                                "enable_grp1": bool(ctlr & G.CTLR_ENGRP1)},
                "interrupts": irqs, "pes": pes}

    def vgic_info(self, pe: int = 0) -> dict:
        """PE ``pe``'s virtual CPU interface, for ``info lr``: ICH_HCR_EL2 (with EOIcount), the
        fields of ICH_VMCR_EL2, the list registers decoded, ICH_MISR/EISR/ELRSR_EL2 and the
        virtual active priorities."""
        from armvirt.devices import gic as G
        hcr = self.reg("ICH_HCR_EL2", pe)
        vmcr = self.reg("ICH_VMCR_EL2", pe)
        states = ("invalid", "pending", "active", "pending+active")
        lrs = []
        for i in range(G.NUM_LRS):
            v = self.reg(f"ICH_LR{i}_EL2", pe)
            hw = bool(v & G.LR_HW)
            lrs.append({"index": i, "value": v, "state": states[v >> 62],
                        "vintid": v & 0xFFFF_FFFF, "group": (v >> 60) & 1,
                        "priority": (v >> 48) & 0xFF, "hw": hw,
                        "pintid": (v >> 32) & 0x1FFF if hw else None,
                        "eoi_maintenance": bool(v & G.LR_EOI) and not hw})
        return {"pe": pe, "ich_hcr": hcr, "enabled": bool(hcr & G.ICH_HCR_EN),
                "eoicount": hcr >> G.ICH_HCR_EOICOUNT_SHIFT,
                "vmcr": {"value": vmcr, "veng0": vmcr & 1, "veng1": (vmcr >> 1) & 1,
                         "vcbpr": (vmcr >> 4) & 1, "veoim": (vmcr >> 9) & 1,
                         "vbpr1": (vmcr >> 18) & 7, "vbpr0": (vmcr >> 21) & 7,
                         "vpmr": vmcr >> 24},
                "lrs": lrs, "misr": self.reg("ICH_MISR_EL2", pe),
                "eisr": self.reg("ICH_EISR_EL2", pe), "elrsr": self.reg("ICH_ELRSR_EL2", pe),
                "ap0r0": self.reg("ICH_AP0R0_EL2", pe), "ap1r0": self.reg("ICH_AP1R0_EL2", pe),
                "virq": bool(self.cpus[pe][L.IRQ_LINES] & L.LINE_VIRQ),
                "vfiq": bool(self.cpus[pe][L.IRQ_LINES] & L.LINE_VFIQ)}

    def timer_info(self, pe: int = 0) -> dict:
        """PE ``pe``'s generic timers, for ``info timer``: the counter (CNTPCT, CNTVCT,
        CNTVOFF_EL2, frequency) and, per timer, CTL's bits, CVAL, TVAL, whether its interrupt
        output is asserted and in how many ticks it fires (None: never, 0: it has), plus the
        PE's next deadline in cycles (timers and PMU overflow; None for none)."""
        from armvirt.devices import timer as TM
        c = self.cpus[pe]
        pct = int(TM.counter_value(c))
        out = {"pe": pe, "frequency": self.reg("CNTFRQ_EL0", pe), "cntpct": pct,
               "cntvoff": self.reg("CNTVOFF_EL2", pe), "cntvct": self.reg("CNTVCT_EL0", pe),
               "cycles": int(c[L.CYCLES]),
               "next_deadline": None if c[L.DEADLINE] >= L.NEVER else int(c[L.DEADLINE])}
        timers = {}
        for t, name, ppi, regs in ((TM.TIMER_P, "phys", memmap.PPI_PHYS_TIMER, "CNTP"),
                                   (TM.TIMER_V, "virt", memmap.PPI_VIRT_TIMER, "CNTV"),
                                   (TM.TIMER_HP, "hyp", memmap.PPI_HYP_TIMER, "CNTHP")):
            el = "EL2" if t == TM.TIMER_HP else "EL0"
            ctl = self.reg(f"{regs}_CTL_{el}", pe)
            cval = self.reg(f"{regs}_CVAL_{el}", pe)
            count = _u64(int(TM.timer_count(c, t)))
            ticks = cval - count if cval > count else 0
            armed = bool(ctl & 1) and not ctl & 2
            timers[name] = {"ppi": ppi, "ctl": ctl, "enable": bool(ctl & 1),
                            "imask": bool(ctl & 2), "istatus": bool(ctl & 4), "cval": cval,
                            "tval": self.reg(f"{regs}_TVAL_{el}", pe),
                            "asserted": bool(TM.timer_output(c, t)),
                            "fires_in_ticks": ticks if armed else None}
        out["timers"] = timers
        return out

    def pmu_info(self, pe: int = 0) -> dict:
        """PE ``pe``'s PMU: PMCCNTR_EL0 and the event counters (brought up to date, with their
        event numbers), whether the cycle counter counts at the current EL, the enable,
        overflow, interrupt-enable and filter registers, and EL2's share (HPMN)."""
        from armvirt.cpu.sysreg_table import PMU_N
        from armvirt.devices.pmu_counter import EVT_MASK, pmu_counting, pmu_hpmn, pmu_sync
        c = self.cpus[pe]
        pmu_sync(c, self.M, int(c[L.EL]))
        return {"pe": pe, "pmccntr": self.reg("PMCCNTR_EL0", pe),
                "events": [{"counter": self.reg(f"PMEVCNTR{n}_EL0", pe),
                            "event": self.reg(f"PMEVTYPER{n}_EL0", pe) & EVT_MASK}
                           for n in range(PMU_N)],
                "hpmn": int(pmu_hpmn(c)),
                "counting": bool(pmu_counting(c, int(c[L.EL]))),
                "pmcr": self.reg("PMCR_EL0", pe), "pmcntenset": self.reg("PMCNTENSET_EL0", pe),
                "pmovsset": self.reg("PMOVSSET_EL0", pe),
                "pmintenset": self.reg("PMINTENSET_EL1", pe),
                "pmccfiltr": self.reg("PMCCFILTR_EL0", pe),
                "pmuserenr": self.reg("PMUSERENR_EL0", pe)}

    # ------------------------------------------------------------------ reports
    def unimplemented_report(self) -> list[tuple[str, int, int]]:
        """(instruction pattern, count, pc of the first) for every UNDEFINED taken."""
        from armvirt.isa._decoder import OP_NAMES
        rows = []
        for op in np.nonzero(self.unimp[:, 0])[0]:
            rows.append((OP_NAMES[op], int(self.unimp[op, 0]), _u64(self.unimp[op, 1])))
        return rows

    # ------------------------------------------------------------------ snapshots
    def save(self) -> dict:
        """A deterministic snapshot of the whole machine: state arrays, the RAM pages that are
        not all zero (so a mostly empty 128 MiB machine costs milliseconds, not seconds), the
        console, and the breakpoint/watchpoint lists. The decode cache is not saved: ``restore``
        drops it for exactly the pages it rewrites."""
        pages = self.mem64.reshape(-1, _PAGE_WORDS)
        return {"state": self.state.copy(), "cpus": self.cpus.copy(),
                "pages": {int(i): pages[i].copy() for i in np.flatnonzero(pages.any(axis=1))},
                "breakpoints": list(self.breakpoints), "watchpoints": list(self.watchpoints),
                "console": bytes(self.console), "last_exit": self.last_exit,
                "power_off_reason": self.power_off_reason}

    def restore(self, snap: dict, *, keep_breakpoints: bool = False) -> None:
        """Put the machine back in the state of ``snap``. With ``keep_breakpoints`` the current
        breakpoint and watchpoint lists stay (a debugger's, not the guest's)."""
        pages = self.mem64.reshape(-1, _PAGE_WORDS)
        current = set(np.flatnonzero(pages.any(axis=1)).tolist())
        changed = []
        for i, words in snap["pages"].items():
            if i in current and np.array_equal(pages[i], words):
                continue
            pages[i] = words
            changed.append(i)
        for i in current - snap["pages"].keys():
            pages[i] = 0
            changed.append(i)
        if changed:  # the decoded instructions of rewritten pages are stale
            self.mem_dcache.reshape(-1, _PAGE_WORDS * 2)[changed] = 0
        self.state[...] = snap["state"]
        self.cpus[...] = snap["cpus"]
        self.console = bytearray(snap["console"])
        self.last_exit = snap["last_exit"]
        self.power_off_reason = snap["power_off_reason"]
        if not keep_breakpoints:
            self.breakpoints = list(snap["breakpoints"])
            self.watchpoints = list(snap["watchpoints"])
        self.rearm()

    def rearm(self) -> None:
        """Rewrite the core's breakpoint and watchpoint tables from the Python lists (after
        state arrays were replaced wholesale, e.g. by a checkpoint restore)."""
        self._rearm_breakpoints()
        self._rearm_watchpoints()
        self._rearm_hooks()


_SYSREG_BY_UPPER = {r.name.upper(): r for r in T.SYSREGS}
_PAGE_WORDS = 4096 // 8   # 64-bit words per 4 KiB page of RAM

