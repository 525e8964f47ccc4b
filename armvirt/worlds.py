"""Which world a PE, an exception or an address belongs to, and that world's view of memory.

Under armvirt's hypervisor one PE runs several *worlds* in turn: the hypervisor at EL2
(``hyp``), in the split build its host part at EL1 (``host``: stage 2 off), and every VM's
vCPUs at EL1/EL0 (``guest``, named ``vm0 vcpu1``). The same address means different memory in
each: the firmware's 0x4000_0010 is a PA; a guest's is a VA, translated by the guest's stage 1
(its own SCTLR/TCR/TTBR_EL1) into an IPA and by its VM's stage 2 (VTTBR_EL2) into a PA. On a
bare board (no firmware) there is one world per EL regime and no tags.

:class:`Worlds` answers, from the PE's registers and the firmware's own records
(:mod:`armvirt.hv.abi`: ``PCPU``, ``VCPU``, ``VM``, the boot manifest):

* :meth:`Worlds.current` — the world the PE executes in now;
* :meth:`Worlds.lower` — the world that took the exception ESR_EL2/ELR_EL2 describe (a guest,
  the host part, or EL2 itself), with its syndrome (in the split build the host part handles
  an exit with the guest's syndrome saved in its vCPU record: that is the one returned);
* :meth:`Worlds.translate` — a VA of any world → its :class:`armvirt.walk.Walk`, through that
  world's regime, even while another world's registers are live (the vCPU's saved EL1 system
  registers and its VM's VTTBR then stand in for the PE's); :meth:`Worlds.va_to_pa` — its PA,
  the translation the debugger's views and the GDB stub's memory packets share.

Nothing here changes the machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR

M64 = (1 << 64) - 1
# The stage 1 and stage 2 controls a guest's translation depends on.
_EL1_REGIME = ("SCTLR_EL1", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1")


@dataclass(frozen=True)
class World:
    """One world of one PE (see the module docstring)."""

    kind: str                   # "bare" | "hyp" | "host" | "guest"
    pe: int
    vm: str | None = None       # guests: the VM's name (manifest), when known
    vmid: int | None = None     # guests: the stage 2 VMID
    vcpu: int | None = None     # guests: vCPU index in its VM
    vcpu_addr: int = 0          # guests: address of the firmware's VCPU record (0: unknown)
    live: bool = True           # its EL1 registers are the PE's own (not saved in memory)

    @property
    def el(self) -> int:
        """The EL whose regime translates this world's addresses."""
        return 2 if self.kind == "hyp" else 1

    @property
    def space(self) -> str | None:
        """The symbol-table address space (``SymbolTable.add_elf(space=...)``)."""
        return {"hyp": "hyp", "host": "hyp", "guest": "guest"}.get(self.kind)

    @property
    def name(self) -> str:
        if self.kind == "guest":
            who = self.vm or (f"VMID {self.vmid}" if self.vmid is not None else "guest")
            return who + (f" vcpu{self.vcpu}" if self.vcpu is not None else "")
        return {"hyp": "hyp", "host": "host"}.get(self.kind, "")

    @property
    def tag(self) -> str:
        """``[hyp]``, ``[host]``, ``[vm0 vcpu1]``; empty on a bare board."""
        return f"[{self.name}]" if self.name else ""


class Worlds:
    """The worlds of a machine. ``pcpus``: address of the firmware's ``pcpus`` array (its
    symbol), or None on a bare board / without the firmware's symbols."""

    def __init__(self, m: Any, pcpus: int | None = None):
        self.m = m
        self.pcpus = pcpus
        self._by_vmid: dict[int, dict] = {}

    @property
    def hypervisor(self) -> bool:
        return self.pcpus is not None

    # ------------------------------------------------------------ firmware records
    def _u64(self, pa: int) -> int:
        return int.from_bytes(self.m.read_phys(pa, 8), "little")

    def _field(self, struct: Any, base: int, name: str, index: int = 0) -> int:
        f = struct.by_name[name]
        return int.from_bytes(self.m.read_phys(base + struct.offsets[name] + index * f.size,
                                               f.size), "little")

    def pcpu_field(self, pe: int, name: str) -> int:
        from armvirt.hv import abi
        return self._field(abi.PCPU, self.pcpus + pe * abi.PCPU.size, name)

    def vms(self) -> list[dict]:
        """The manifest's VM records: name, index, VMID (0 before the firmware created it),
        VTTBR, first VCPU record and vCPU count."""
        from armvirt.hv import abi
        if not self.hypervisor:
            return []
        base = abi.HV_MANIFEST
        try:
            if self._u64(base + abi.MANIFEST.offsets["MAGIC"]) != abi.MANIFEST_MAGIC:
                return []
            n = self._field(abi.MANIFEST, base, "NR_VMS")
        except Exception:  # noqa: BLE001 - not in RAM: no manifest
            return []
        out = []
        for i in range(min(n, abi.MAX_VMS)):
            vm = base + abi.MANIFEST.offsets["VMS"] + i * abi.VM.size
            o = abi.VM.offsets["NAME"]
            name = self.m.read_phys(vm + o, abi.VM_NAME_LEN).split(b"\0")[0].decode(
                errors="replace")
            out.append({"addr": vm, "name": name, "index": i,
                        "vmid": self._field(abi.VM, vm, "VMID"),
                        "vttbr": self._field(abi.VM, vm, "VTTBR"),
                        "vcpus": self._field(abi.VM, vm, "VCPUS"),
                        "nr_vcpus": self._field(abi.VM, vm, "NR_VCPUS"),
                        "pins": [self._field(abi.VM, vm, "PIN", k) for k in
                                 range(min(self._field(abi.VM, vm, "NR_VCPUS"),
                                           abi.MAX_VCPUS_PER_VM))]})
        return out

    def _vm_by_vmid(self, vmid: int) -> dict | None:
        # A VM's name, VMID and pinning never change once the firmware created it: cached.
        if vmid not in self._by_vmid:
            vm = next((v for v in self.vms() if v["vmid"] == vmid and vmid), None)
            if vm is None:
                return None
            self._by_vmid[vmid] = vm
        return self._by_vmid[vmid]

    def vm_name(self, vmid: int) -> str | None:
        vm = self._vm_by_vmid(vmid)
        return vm["name"] if vm else None

    def vcpu_on(self, vmid: int, pe: int) -> int | None:
        """The vCPU of VM ``vmid`` pinned to ``pe`` when exactly one is (pinning is static)."""
        vm = self._vm_by_vmid(vmid)
        if vm is None:
            return None
        ks = [k for k, p in enumerate(vm["pins"]) if p == pe]
        return ks[0] if len(ks) == 1 else None

    def _guest(self, pe: int, vcpu_addr: int, live: bool) -> World:
        from armvirt.hv import abi
        vm_addr = self._field(abi.VCPU, vcpu_addr, "VM")
        o = abi.VM.offsets["NAME"]
        name = self.m.read_phys(vm_addr + o, abi.VM_NAME_LEN).split(b"\0")[0].decode(
            errors="replace")
        return World("guest", pe, vm=name or None, vmid=self._field(abi.VM, vm_addr, "VMID"),
                     vcpu=self._field(abi.VCPU, vcpu_addr, "INDEX"), vcpu_addr=vcpu_addr,
                     live=live)

    def guest(self, vm: str, vcpu: int = 0) -> World:
        """The world of vCPU ``vcpu`` of the VM named ``vm`` (or ``vmN``: the VM of index N)."""
        from armvirt.hv import abi
        for rec in self.vms():
            if rec["name"] == vm or vm == f"vm{rec['index']}" and not any(
                    r["name"] == vm for r in self.vms()):
                if not 0 <= vcpu < rec["nr_vcpus"]:
                    raise ValueError(f"{vm} has vCPUs 0..{rec['nr_vcpus'] - 1}")
                if not rec["vcpus"]:
                    raise ValueError(f"{vm} is not created yet (the firmware has not run "
                                     f"vm_create)")
                addr = rec["vcpus"] + vcpu * abi.VCPU.size
                pe = self._field(abi.VCPU, addr, "PCPU")
                return self._guest(pe, addr, self._is_live(pe, addr))
        names = ", ".join(r["name"] for r in self.vms()) or "none"
        raise ValueError(f"no VM named {vm!r} (VMs: {names})")

    def _is_live(self, pe: int, vcpu_addr: int) -> bool:
        """Are the PE's EL1 registers (and VTTBR_EL2) this vCPU's now? Between __guest_enter
        and the exit's save (PCPU.VCPU), or while loaded in the direct build (PCPU.LOADED)."""
        if not 0 <= pe < self.m.smp:
            return False
        return vcpu_addr in (self.pcpu_field(pe, "VCPU"), self.pcpu_field(pe, "LOADED")) \
            and (self.m.reg("VTTBR_EL2", pe) >> 48) & 0xFF == self._vm_vmid(vcpu_addr)

    def vcpus(self) -> list[dict]:
        """Every vCPU of every created VM: its VM's name, index, record address, PE, and where
        each part of its extra state is now (as the firmware decides it):
        ``pmu_live`` — its PMU share is in its PE's registers (PCPU.PMU_OWNER names it,
        host/pmu.S); ``dbg_live`` — its debug registers are in the PE (VCPU.DBG_DIRTY set and
        the vCPU running, PCPU.VCPU, or loaded in the direct build, PCPU.LOADED: hyp/switch.S
        __debug_load/__debug_put). The emulated physical timer is only ever in the record."""
        from armvirt.hv import abi
        out = []
        for vm in self.vms():
            for k in range(vm["nr_vcpus"] if vm["vcpus"] else 0):
                a = vm["vcpus"] + k * abi.VCPU.size
                pe = self._field(abi.VCPU, a, "PCPU")
                on_pe = 0 <= pe < self.m.smp
                running = on_pe and a in (self.pcpu_field(pe, "VCPU"),
                                          self.pcpu_field(pe, "LOADED"))
                out.append({"vm": vm["name"], "index": k, "addr": a, "pe": pe,
                            "pmu_live": on_pe and self.pcpu_field(pe, "PMU_OWNER") == a,
                            "dbg_dirty": self._field(abi.VCPU, a, "DBG_DIRTY"),
                            "dbg_live": running and self._field(abi.VCPU, a, "DBG_DIRTY") != 0})
        return out

    def vcpu_field(self, vcpu_addr: int, name: str, index: int = 0) -> int:
        """Field ``name`` (element ``index``) of the VCPU record at ``vcpu_addr``."""
        from armvirt.hv import abi
        return self._field(abi.VCPU, vcpu_addr, name, index)

    def _vm_vmid(self, vcpu_addr: int) -> int:
        from armvirt.hv import abi
        return self._field(abi.VM, self._field(abi.VCPU, vcpu_addr, "VM"), "VMID")

    # ------------------------------------------------------------ which world
    def current(self, pe: int) -> World:
        """The world PE ``pe`` executes in now."""
        m = self.m
        el = int(m.cpus[pe][L.EL])
        if el == 2:
            return World("hyp" if self.hypervisor else "bare", pe)
        stage2 = bool(m.reg("HCR_EL2", pe) & 1)
        if self.hypervisor:
            v = self.pcpu_field(pe, "VCPU")
            if v:
                return self._guest(pe, v, True)
            if not stage2:
                return World("host", pe)
        if stage2:
            vmid = (m.reg("VTTBR_EL2", pe) >> 48) & 0xFF
            name = self.vm_name(vmid)
            return World("guest", pe, vm=name, vmid=vmid,
                         vcpu=self.vcpu_on(vmid, pe) if name else None)
        return World("bare", pe)

    def lower(self, pe: int) -> tuple[World, dict]:
        """The world that took the exception described by the EL2 syndrome registers, and
        that syndrome: {"esr", "elr", "far", "hpfar", "saved"} (``saved``: read from the vCPU
        record, because the host part is handling the exit and EL2's registers moved on)."""
        m = self.m
        regs = {"esr": m.reg("ESR_EL2", pe), "elr": m.reg("ELR_EL2", pe),
                "far": m.reg("FAR_EL2", pe), "hpfar": m.reg("HPFAR_EL2", pe), "saved": False}
        from_el = (m.reg("SPSR_EL2", pe) >> 2) & 3
        if from_el == 2:
            return World("hyp" if self.hypervisor else "bare", pe), regs
        if self.hypervisor:
            from armvirt.hv import abi
            v = self.pcpu_field(pe, "VCPU")
            if v:
                return self._guest(pe, v, self._is_live(pe, v)), regs
            if int(m.cpus[pe][L.EL]) == 1 and not m.reg("HCR_EL2", pe) & 1:
                # The host part runs (split build): the exit it handles is the vCPU of this
                # PE whose saved syndrome is the one in ESR_EL2.
                for vm in self.vms():
                    for k in range(vm["nr_vcpus"] if vm["vcpus"] else 0):
                        a = vm["vcpus"] + k * abi.VCPU.size
                        if self._field(abi.VCPU, a, "PCPU") == pe and \
                                self._field(abi.VCPU, a, "FAULT_ESR") == regs["esr"] and \
                                regs["esr"]:
                            saved = {"esr": regs["esr"],
                                     "elr": self._field(abi.CTXT, a, "PC"),
                                     "far": self._field(abi.VCPU, a, "FAULT_FAR"),
                                     "hpfar": self._field(abi.VCPU, a, "FAULT_HPFAR"),
                                     "saved": True}
                            return self._guest(pe, a, False), saved
                return World("host", pe), regs
        if m.reg("HCR_EL2", pe) & 1:
            vmid = (m.reg("VTTBR_EL2", pe) >> 48) & 0xFF
            return World("guest", pe, vmid=vmid), regs
        return World("bare", pe), regs

    def of_event(self, ev: tuple) -> World:
        """The EL0/EL1-side world of a trace event (its VMID column; -1: not a VM)."""
        pe, from_el, to_el = ev[1], ev[3], ev[4]
        vmid = ev[10] if len(ev) > 10 else -1
        if min(from_el, to_el) == 2:
            return World("hyp" if self.hypervisor else "bare", pe)
        if vmid >= 0:
            name = self.vm_name(vmid)
            return World("guest", pe, vm=name, vmid=vmid,
                         vcpu=self.vcpu_on(vmid, pe) if name else None)
        return World("host" if self.hypervisor else "bare", pe)

    # ------------------------------------------------------------ memory
    def regime_row(self, w: World) -> Any:
        """A copy of the PE's register row with ``w``'s translation controls in it: the PE's
        own when they are live, else the vCPU's saved EL1 registers and its VM's stage 2."""
        from armvirt.hv import abi
        c = self.m.cpus[w.pe].copy()
        if w.kind != "guest" or w.live or not w.vcpu_addr:
            return c
        for name in _EL1_REGIME:
            c[getattr(SR, name)] = self._field(abi.CTXT, w.vcpu_addr, f"SYS_{name}")
        vm_addr = self._field(abi.VCPU, w.vcpu_addr, "VM")
        c[SR.HCR_EL2] = self._field(abi.VCPU, w.vcpu_addr, "HCR")
        c[SR.VTTBR_EL2] = self._field(abi.VM, vm_addr, "VTTBR")
        c[SR.VTCR_EL2] = abi.VTCR_VALUE
        return c

    def translate(self, w: World, va: int, access: str = "read") -> Any:
        """The whole walk of ``va`` in world ``w``'s regime, as a privileged access with PAN
        off (how a debugger looks at memory): ``armvirt.walk.Walk``."""
        return walk_in_row(self.m, self.regime_row(w), va, w.el, access)

    def va_to_pa(self, w: World, va: int) -> int:
        """The PA of ``va`` in world ``w``'s regime (a privileged read, PAN ignored: the
        debugger's view of memory): a guest VA through the guest's stage 1 and its VM's stage
        2, even while the hypervisor runs; on a bare board the PE's current regime
        (``Machine.virt_to_phys``). The one translation the REPL's views and the GDB stub's
        memory packets share. Raises MachineError naming the world and the fault."""
        va &= M64
        if w.kind == "bare":
            return self.m.virt_to_phys(va, pe=w.pe)
        walk = self.translate(w, va)
        if walk.fault is not None:
            from armvirt.machine import MachineError
            raise MachineError(f"cannot translate 0x{va:x} in {w.name or 'this world'}: "
                               f"{walk.fault}")
        return walk.pa


def walk_in_row(m: Any, row: Any, va: int, el: int, access: str = "read") -> Any:
    """The walk of ``va`` by the translation controls of register row ``row`` (a PE's, or a
    copy with another world's controls) as an access from ``el``, with PAN off;
    nothing in the machine changes (``mmu.inspect_el``): ``armvirt.walk.Walk``."""
    from armvirt.cpu import mmu
    from armvirt.walk import from_record
    acc = {"read": 0, "write": mmu.ACC_WRITE, "exec": mmu.ACC_FETCH}[access]
    va &= M64
    sva = va - (1 << 64) if va >> 63 else va
    _, ctl = mmu.inspect_el(row.copy(), m.M, sva, acc, el, True, 0)
    return from_record(m.state, va, el, access, int(ctl))


class EventNamer:
    """Names for trace events (``armvirt.trace.Namer``): the world of an event's EL0/EL1 side
    and symbols of its addresses, each looked up in the symbol table of the world it belongs
    to (``symbols``: an ``armvirt.debug.symbols.SymbolTable`` with spaces, or None)."""

    def __init__(self, worlds: Worlds, symbols: Any = None):
        self.worlds = worlds
        self.symbols = symbols

    def world_of(self, ev: tuple) -> World:
        return self.worlds.of_event(ev)

    def world(self, ev: tuple) -> str:
        return self.world_of(ev).tag

    def symbol(self, ev: tuple, addr: int, side: str) -> str:
        """``side``: "lower" (an address of the EL0/EL1 world), "target" (of the EL the event
        enters), "same" (of the EL it leaves)."""
        if self.symbols is None:
            return ""
        el = {"target": ev[4], "same": ev[3]}.get(side, min(ev[3], ev[4]))
        w = World("hyp" if self.worlds.hypervisor else "bare", ev[1]) if el == 2 else \
            self.world_of(ev)
        return describe_in(self.symbols, addr, w.space)


def describe_in(symbols: Any, addr: int, space: str | None) -> str:
    """``sym+off`` of ``addr`` looked up first in the images of address space ``space``."""
    saved = symbols.space_of
    symbols.space_of = lambda: space
    try:
        return symbols.describe(addr)
    finally:
        symbols.space_of = saved
