"""``--trace insn``: every retired instruction, like QEMU's ``-d in_asm,exec,cpu`` in one line.

    [      1234] PE0 [vm0 vcpu0] EL1 0x40000010 <_start+16>  strb w3, [x1]
    [      1240] PE0 [vm0 vcpu0] EL1 0x40000014 <_start+20>  b #0x40000008  | pc only
    [      1251] PE0 EL1 0x40000008 <_start+8>  ldrb w3, [x2], #1  | x2=0x40000031 x3=0x48

Cycle count before the instruction, PE, world (under the hypervisor), EL, address with its
symbol in that world's symbol table, the disassembly, and the registers the instruction wrote
(general registers, SP, NZCV, the PSTATE fields, V registers and system registers that changed;
``pc only`` when none did).

The tracer drives the machine one step at a time, the way ``Machine.step`` does (the jitted run
loop is untouched, so tracing costs nothing while it is off). With ``ranges`` and/or ``vm``
it runs at full speed outside them: a breakpoint at each range's start brings it back to
stepping, and a call out of a range arms a breakpoint at its return address; instructions
outside the ranges or of other worlds are stepped but not printed.
"""
from __future__ import annotations

from typing import Any, Callable

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu import sysreg_table as T
from armvirt.debug.disasm import annotate, disassemble_one
from armvirt.worlds import World, Worlds, describe_in, walk_in_row

M64 = (1 << 64) - 1
_STOPS = ("system_off", "system_reset", "halt", "idle", "internal", "hook")


def _slot_names() -> dict[int, str]:
    """Row slot -> register name, for the "registers it wrote" column."""
    names = {i: f"x{i}" for i in range(31)}
    names.update({L.SP: "sp", L.NZCV: "nzcv", L.EL: "el", L.SPSEL: "spsel", L.DAIF: "daif",
                  L.PSTATE_SS: "ss", L.PSTATE_IL: "il", L.PSTATE_PAN: "pan"})
    for n in range(32):
        names[L.V_BASE + 2 * n] = f"v{n}"
        names[L.V_BASE + 2 * n + 1] = f"v{n}"
    for r in T.SYSREGS:
        slot = getattr(SR, r.name, None)
        if isinstance(slot, int) and L.SYSREG_BASE <= slot < L.CPU_SIZE:
            names[slot] = r.name
    return names


class InsnTracer:
    """Run ``m`` to the end (or ``max_insns`` steps), writing one line per retired
    instruction to ``out``. ``symbols``: a ``SymbolTable`` (with address spaces under the
    hypervisor); ``worlds``: the machine's :class:`~armvirt.worlds.Worlds`; ``ranges``: [lo,
    hi) VA ranges to trace; ``vm``: only the instructions of this VM's vCPUs."""

    def __init__(self, m: Any, out: Callable[[str], None], *, symbols: Any = None,
                 worlds: Worlds | None = None, ranges: list[tuple[int, int]] | None = None,
                 vm: str | None = None):
        self.m = m
        self.out = out
        self.symbols = symbols
        self.worlds = worlds or Worlds(m)
        self.ranges = ranges or []
        self.vm = vm
        self.names = _slot_names()
        self.count = 0          # instructions printed

    # ------------------------------------------------------------ filters
    def _in_range(self, pc: int) -> bool:
        return not self.ranges or any(lo <= pc < hi for lo, hi in self.ranges)

    def _world_ok(self, w: World) -> bool:
        return self.vm is None or (w.kind == "guest" and w.vm == self.vm)

    def _world(self, pe: int) -> World:
        return self.worlds.current(pe) if self.worlds.hypervisor else World("bare", pe)

    def _wanted(self, pe: int, w: World | None = None) -> bool:
        pc = int(self.m.cpus[pe][L.PC]) & M64
        return self._in_range(pc) and (self.vm is None or
                                       self._world_ok(w or self._world(pe)))

    # ------------------------------------------------------------ running
    def run(self, max_insns: int | None = None) -> Any:
        m = self.m
        left = max_insns
        fast = bool(self.ranges)
        while True:
            if fast:
                info = self._fast_forward(left)
                if info.reason != "breakpoint" or info.instructions == 0 and left == 0:
                    return info
                left = None if left is None else left - info.instructions
                fast = False
                continue
            before = m.cpus.copy()
            worlds = [self._world(p) for p in range(m.smp)]   # the world each PE runs in
            wanted = [self._wanted(p, worlds[p]) for p in range(m.smp)]
            # An exception the step took is reported after the instruction that took it.
            sink, held = m.trace_sink, []
            if sink is not None:
                m.trace_sink = held.append
            try:
                info = m.run(1)
            finally:
                m.trace_sink = sink
            if left is not None:
                left -= info.instructions
            for pe in range(m.smp):
                if m.cpus[pe][L.INSTRET] != before[pe][L.INSTRET] and wanted[pe]:
                    self._line(pe, before[pe], m.cpus[pe], worlds[pe])
            for ev in held:
                sink(ev)
            if info.reason in _STOPS:
                return info
            if left is not None and left <= 0:
                return info
            if self.ranges and not any(self._wanted(p) for p in range(m.smp)):
                fast = True

    def _fast_forward(self, left: int | None) -> Any:
        """Full speed until some PE enters a traced range (a breakpoint at each range start
        and, for a call that left one, at its return address)."""
        m = self.m
        added = []
        addrs = {lo for lo, _ in self.ranges}
        for pe in range(m.smp):
            lr = int(m.reg("x30", pe)) & M64
            if self._in_range(lr) and not self._in_range(int(m.cpus[pe][L.PC]) & M64):
                addrs.add(lr)
        try:
            for a in sorted(addrs):
                if a & 3 == 0:
                    added.append(m.add_breakpoint(a))
            while True:
                info = m.run(left)
                if info.reason != "breakpoint":
                    return info
                if self._wanted(info.pe):
                    return info
                if left is not None:
                    left -= info.instructions
                    if left <= 0:
                        return info
        finally:
            for b in added:
                if b in m.breakpoints:
                    m.remove_breakpoint(b)

    # ------------------------------------------------------------ one line
    def _line(self, pe: int, old: Any, new: Any, w: World) -> None:
        pc = int(old[L.PC]) & M64
        el = int(old[L.EL])
        try:   # the word fetched, through the regime the instruction ran in (the old row)
            walk = walk_in_row(self.m, old, pc, el, "exec")
            pa = walk.pa if walk.fault is None else None
        except Exception:  # noqa: BLE001 - a trace line never stops the run
            pa = None
        if pa is None:
            try:
                pa = self.m.virt_to_phys(pc, el=el, pe=pe)
            except Exception:  # noqa: BLE001
                pa = None
        space = w.space if w.kind != "bare" else None
        describe = (lambda a: describe_in(self.symbols, a, space)) if self.symbols else \
            (lambda a: "")
        if pa is not None:
            word = int.from_bytes(self.m.read_phys(pa, 4), "little")
            text = annotate(disassemble_one(word, pc), describe)
        else:
            text = "<not readable>"
        sym = describe(pc)
        where = f"0x{pc:x}" + (f" <{sym}>" if sym else "")
        wrote = self._writes(old, new)
        tag = f" {w.tag}" if w.tag else ""
        self.out(f"[{int(old[L.CYCLES]):>10}] PE{pe}{tag} EL{el} {where}  {text}  | {wrote}")
        self.count += 1

    def _writes(self, old: Any, new: Any) -> str:
        parts: list[str] = []
        seen = set()
        for i in (old != new).nonzero()[0].tolist():
            name = self.names.get(i)
            if name is None or name in seen:
                continue
            seen.add(name)
            if name.startswith("v") and name[1:].isdigit():
                n = int(name[1:])
                v = (int(new[L.V_BASE + 2 * n + 1]) & M64) << 64 | int(new[L.V_BASE + 2 * n]) & M64
                parts.append(f"{name}=0x{v:x}")
            elif name == "nzcv":
                v = int(new[i])
                parts.append("nzcv=" + "".join(ch if v & b else ch.lower()
                                               for ch, b in zip("NZCV", (8, 4, 2, 1))))
            else:
                parts.append(f"{name}=0x{int(new[i]) & M64:x}")
        return " ".join(parts) if parts else "pc only"


class MmuFaultTracer:
    """``--trace mmu``: every abort (instruction or data, EC 0x20/0x21/0x24/0x25) with the whole
    walk of its address (``armvirt.walk.Walk.format``: each stage 1 and stage 2 descriptor read,
    then the fault), re-walked in the faulting world's regime at the moment the exception is
    taken (a ``Machine.add_hook`` on those classes: the jitted loop only scans the hook table
    at exception entry)."""

    ECS = (0x20, 0x21, 0x24, 0x25)

    def __init__(self, m: Any, out: Callable[[str], None], *, symbols: Any = None,
                 worlds: Worlds | None = None):
        self.m = m
        self.out = out
        self.symbols = symbols
        self.worlds = worlds or Worlds(m)
        self.hooks: list = []
        self.count = 0

    def install(self) -> "MmuFaultTracer":
        for ec in self.ECS:
            self.hooks.append(self.m.add_hook("exception", self._on_abort, ec=ec))
        return self

    def remove(self) -> None:
        for h in self.hooks:
            if h in self.m.hooks:
                self.m.remove_hook(h)
        self.hooks = []

    def _on_abort(self, m: Any, ev: Any) -> bool:
        from armvirt.cpu.syndrome import EC_IABT_LOWER, EC_IABT_SAME, EC_SHORT, ec_of
        pe, el, esr = ev.pe, ev.el, ev.esr or 0
        ec = ec_of(esr)
        access = "exec" if ec in (EC_IABT_LOWER, EC_IABT_SAME) else ("write" if esr >> 6 & 1 else "read")
        if el == 2:
            w, regs = self.worlds.lower(pe)
            far, elr = regs["far"], regs["elr"]
        else:
            w = self.worlds.current(pe) if self.worlds.hypervisor else World("bare", pe)
            far, elr = m.reg("FAR_EL1", pe), m.reg("ELR_EL1", pe)
        try:
            if w.kind == "bare" or (w.kind == "hyp" and el == 2):
                walk = m.translate(far, el=min(el, 2) if w.kind == "hyp" else 1,
                                   access=access, pan=0, pe=pe)
            else:
                walk = self.worlds.translate(w, far, access)
            text = walk.format()
        except Exception as e:  # noqa: BLE001 - a trace line never stops the run
            text = f"(no walk: {e})"
        sym = describe_in(self.symbols, elr, w.space) if self.symbols else ""
        tag = f" {w.tag}" if w.tag else ""
        self.out(f"[{int(m.cpus[pe][L.CYCLES]):>10}] PE{pe}{tag} {EC_SHORT.get(ec, hex(ec))} "
                 f"to EL{el} at 0x{elr & M64:x}{' <' + sym + '>' if sym else ''}: "
                 f"{access} of 0x{far & M64:x}")
        for line in text.splitlines():
            self.out("    " + line)
        self.count += 1
        return False
