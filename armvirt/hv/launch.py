"""Run guests under armvirt's hypervisor: plan the VMs, load firmware and images, write the boot
manifest, start every PE at the firmware's entry at EL2, and read the outcome back.

The Python side does what a boot loader does for a hypervisor: it puts the firmware image at
``HV_BASE``, each guest image and its device tree into that VM's memory (images are loaded by
:func:`armvirt.loader.load_image` through :class:`_VMMemory`, which maps the guest's physical
addresses onto the VM's block of RAM), and describes the VMs in the boot manifest at
``HV_MANIFEST`` (structure :data:`armvirt.hv.abi.MANIFEST`). The firmware checks the manifest
again before it trusts it.

Every check happens before the machine is touched, and each failure is one line
(:class:`LaunchError`): more memory than the board has, VMs that overlap, an image that does not
fit its VM, vCPUs pinned to PEs that do not exist, ...

    >>> cfg = HvConfig([VMConfig("build/guests/hello.elf")])           # doctest: +SKIP
    >>> m, run = launch(cfg)                                            # doctest: +SKIP
    >>> m.run(); result(m, run).vms[0].state                            # doctest: +SKIP
    'powered off'
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from armvirt import memmap
from armvirt.hv import abi
from armvirt.loader import BootInfo, LoadError, load_image, read_elf

DEFAULT_VM_MEM = 128 << 20          # as the board's default RAM for a bare run (QEMU: -m 128M)
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class LaunchError(Exception):
    """A configuration or image that cannot be run; the message is one line."""


@dataclass
class VMConfig:
    """One VM: its image and how the hypervisor should run it."""

    image: str | None                # None: a VM started from its bios
    name: str | None = None          # console tag; default vm0, vm1, ...
    mem: int = DEFAULT_VM_MEM
    vcpus: int = 1
    pin: list[int] | None = None     # physical PE of each vCPU; default: one PE each, in order
    append: str = ""                 # /chosen/bootargs
    initrd: str | None = None        # initial RAM disk of a Linux Image (loader.load_image)
    dtb: str | None = None           # a device tree blob to pass instead of the generated one
    output: str | None = None        # file for its console output (default: the terminal)
    kind: str = "auto"               # image kind (armvirt.loader.KINDS)
    load_addr: int | None = None     # raw image / Image base, as a guest-physical address
    base: int | None = None          # physical address of its RAM (default: packed after the last)
    stage2: bool = True              # False: bring-up mode, IPA = PA, no isolation, no DTB
    bios: str | None = None          # firmware for its flash bank 0 (started at IPA 0, as -bios)
    pflash: str | None = None        # its flash bank 1 (variable store), written back after the run

    @property
    def span(self) -> int:
        """Physical memory it takes: its RAM, then its flash banks if it has a bios."""
        return self.mem + (abi.VM_FLASH_SPAN if self.bios else 0)


@dataclass
class HvConfig:
    vms: list[VMConfig]
    mode: str = "split"              # "split" | "direct" (armvirt.build.HV_MODES)
    smp: int | None = None           # physical PEs (default: enough for the pinning)
    mem: int | None = None           # physical RAM (default: enough for the hypervisor and VMs)


@dataclass
class PlannedVM:
    cfg: VMConfig
    name: str
    pa_base: int
    pin: list[int]


@dataclass
class Plan:
    mode: str
    smp: int
    ram_size: int
    vms: list[PlannedVM]


@dataclass
class Launched:
    """What :func:`launch` put where: for :func:`result`, symbols and the debugger."""

    plan: Plan
    firmware: Path
    fw_symbols: dict[str, int]
    boots: list[BootInfo | None] = field(default_factory=list)


@dataclass
class VCPUResult:
    index: int
    pcpu: int
    exits: int
    stats: dict[str, int]


@dataclass
class VMResult:
    name: str
    state: str                       # abi.VM_STATE_NAMES
    vcpus: list[VCPUResult]
    esr: int = 0                     # the exit that stopped it, when the hypervisor did
    elr: int = 0
    resets: int = 0                  # system resets carried out (a VM with a bios)


@dataclass
class HvResult:
    state: str                       # "boot" | "running" | "done" | "panic"
    vms: list[VMResult]
    panic: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "done" and all(v.state in (abi.VM_STATE_NAMES[abi.VM_STATE_OFF],
                                                        abi.VM_STATE_NAMES[abi.VM_STATE_RESET])
                                            for v in self.vms)


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


# ------------------------------------------------------------------------------------ planning
def plan(cfg: HvConfig) -> Plan:
    """Check ``cfg`` and decide where everything goes; raises :class:`LaunchError`."""
    from armvirt.build import HV_MODES
    if cfg.mode not in HV_MODES:
        raise LaunchError(f"unknown hypervisor build {cfg.mode!r} (known: {', '.join(HV_MODES)})")
    if not cfg.vms:
        raise LaunchError("no VM to run")
    if len(cfg.vms) > abi.MAX_VMS:
        raise LaunchError(f"{len(cfg.vms)} VMs: the hypervisor runs at most {abi.MAX_VMS}")
    names: set[str] = set()
    total_vcpus = sum(v.vcpus for v in cfg.vms)
    if total_vcpus > abi.MAX_VCPUS:
        raise LaunchError(f"{total_vcpus} vCPUs in all: the hypervisor has room for "
                          f"{abi.MAX_VCPUS}")
    next_pe = 0
    default_pes = cfg.smp or min(total_vcpus, memmap.MAX_PES)
    vms: list[PlannedVM] = []
    for i, v in enumerate(cfg.vms):
        name = v.name if v.name is not None else f"vm{i}"
        if not NAME_RE.match(name) or name == abi.HV_TAG:
            raise LaunchError(f"VM name {name!r}: use 1 to 15 letters, digits, '_', '.' or '-' "
                              f"(and not {abi.HV_TAG!r})")
        if name in names:
            raise LaunchError(f"two VMs are named {name!r}")
        names.add(name)
        if v.bios is None and v.image is None:
            raise LaunchError(f"VM {name}: no image (or bios)")
        if v.bios is not None and v.image is not None:
            raise LaunchError(f"VM {name}: give an image or a bios, not both (the firmware loads "
                              f"what it boots)")
        if v.pflash is not None and v.bios is None:
            raise LaunchError(f"VM {name}: pflash needs a bios (it is the firmware's variable "
                              f"store, flash bank 1)")
        if v.bios is not None:
            for key, value in (("initrd", v.initrd), ("load-addr", v.load_addr)):
                if value is not None:
                    raise LaunchError(f"VM {name}: {key} is for an image, not for a bios")
            if v.kind != "auto":
                raise LaunchError(f"VM {name}: kind is for an image, not for a bios")
            if not v.stage2:
                raise LaunchError(f"VM {name}: a bios needs stage 2 (its flash is mapped there)")
        if not 1 <= v.vcpus <= abi.MAX_VCPUS_PER_VM:
            raise LaunchError(f"VM {name}: {v.vcpus} vCPUs; a VM has 1 to "
                              f"{abi.MAX_VCPUS_PER_VM}")
        if v.mem % abi.VM_MEM_ALIGN or not abi.VM_MEM_MIN <= v.mem <= abi.VM_MEM_MAX:
            raise LaunchError(f"VM {name}: memory {_mib(v.mem)} is not a multiple of 2 MiB "
                              f"between 2 MiB and {abi.VM_MEM_MAX >> 30} GiB")
        if v.pin is None:
            pin = [(next_pe + k) % default_pes for k in range(v.vcpus)]
            next_pe = (next_pe + v.vcpus) % default_pes
        else:
            pin = list(v.pin)
            if len(pin) != v.vcpus:
                raise LaunchError(f"VM {name}: {len(pin)} pinned PEs for {v.vcpus} vCPUs")
            if any(p < 0 or p >= memmap.MAX_PES for p in pin):
                raise LaunchError(f"VM {name}: pinned to a PE outside 0..{memmap.MAX_PES - 1}")
        vms.append(PlannedVM(v, name, -1, pin))
    smp = cfg.smp if cfg.smp is not None else max(p for vm in vms for p in vm.pin) + 1
    if not 1 <= smp <= memmap.MAX_PES:
        raise LaunchError(f"--smp must be between 1 and {memmap.MAX_PES}, not {smp}")
    for vm in vms:
        if max(vm.pin) >= smp:
            raise LaunchError(f"VM {vm.name}: a vCPU is pinned to PE {max(vm.pin)}, the board "
                              f"has {smp} PE{'s' if smp > 1 else ''}")

    # Placement: explicit bases first, then the others packed upwards from VM_MEM_BASE.
    taken: list[tuple[int, int, str]] = []
    for vm in vms:
        b = vm.cfg.base
        if b is None:
            continue
        if b % abi.VM_MEM_ALIGN or b < abi.VM_MEM_BASE:
            raise LaunchError(f"VM {vm.name}: base 0x{b:x} must be 2 MiB-aligned and at or above "
                              f"0x{abi.VM_MEM_BASE:x} (the hypervisor is below)")
        for s, e, other in taken:
            if b < e and s < b + vm.cfg.span:
                raise LaunchError(f"VM {vm.name} (0x{b:x}..0x{b + vm.cfg.span:x}) overlaps VM "
                                  f"{other} (0x{s:x}..0x{e:x})")
        vm.pa_base = b
        taken.append((b, b + vm.cfg.span, vm.name))
    for vm in vms:
        if vm.pa_base >= 0:
            continue
        b = abi.VM_MEM_BASE
        while True:
            clash = [e for s, e, _ in taken if b < e and s < b + vm.cfg.span]
            if not clash:
                break
            b = max(clash)
        vm.pa_base = b
        taken.append((b, b + vm.cfg.span, vm.name))
    need = max(e for _, e, _ in taken) - memmap.RAM_BASE
    if cfg.mem is not None:
        if cfg.mem < need:
            raise LaunchError(f"the VMs need {_mib(need)} of RAM (the hypervisor "
                              f"{_mib(abi.HV_SIZE)} and {', '.join(f'{v.name} {_mib(v.cfg.span)}' for v in vms)}), "
                              f"the board has {_mib(cfg.mem)}")
        ram = cfg.mem
    else:
        ram = need
    if ram > memmap.RAM_SIZE_MAX:
        raise LaunchError(f"the VMs need {_mib(ram)} of RAM; the board has at most "
                          f"{memmap.RAM_SIZE_MAX >> 30} GiB")
    return Plan(cfg.mode, smp, ram, vms)


# ------------------------------------------------------------------------------------ loading
class _VMMemory:
    """A :class:`armvirt.loader.LoadTarget` for one VM: the guest's view of its RAM (IPA
    GUEST_RAM_BASE..+mem) written into the VM's block of physical RAM. ``boot_pe`` records the
    entry point and x0 instead of starting a PE (the firmware starts vCPU 0)."""

    psci_conduit = "hvc"            # guests of the hypervisor call PSCI with HVC

    def __init__(self, machine, vm: PlannedVM):
        self.m = machine
        self.vm = vm
        self.ram_size = vm.cfg.mem
        self.smp = vm.cfg.vcpus
        self.flash = vm.cfg.bios is not None     # the device tree describes the flash then
        self.dtb_blob = b""                      # a bios VM's device tree (copied for resets)
        self.entry: int | None = None
        self.x0 = 0

    def mpidr(self, pe: int) -> int:
        return (1 << 31) | pe       # VMPIDR_EL2 of vCPU pe (firmware: vm_create)

    def write_phys(self, ipa: int, data: bytes) -> None:
        off = ipa - abi.GUEST_RAM_BASE
        if off < 0 or off + len(data) > self.ram_size:
            raise LoadError(f"VM {self.vm.name}: 0x{ipa:x}+0x{len(data):x} is outside its RAM")
        self.m.write_phys(self.vm.pa_base + off, data)

    def boot_pe(self, pe: int, entry: int, *, el: int = 1, x0: int = 0, **_regs) -> None:
        self.entry, self.x0 = entry, x0


def firmware_sources() -> list[Path]:
    from armvirt.build import FIRMWARE
    return sorted(p for p in FIRMWARE.rglob("*") if p.suffix in (".S", ".h"))


def ensure_firmware(mode: str, out_dir: Path | None = None) -> Path:
    """The firmware ELF for ``mode``, assembled from ``firmware/`` unless an up-to-date build
    exists (keyed on a hash of the sources and the board's defines)."""
    from armvirt.build import BUILD, board_defines, build_firmware
    out_dir = out_dir or BUILD / "firmware"
    h = hashlib.sha256()
    for p in firmware_sources():
        h.update(str(p.name).encode() + b"\0" + p.read_bytes())
    h.update(repr(sorted(board_defines().items())).encode())
    h.update(Path(build_firmware.__code__.co_filename).read_bytes())   # the builder itself
    key = h.hexdigest()[:16]
    elf = out_dir / f"hv-{mode}.elf"
    stamp = out_dir / f"hv-{mode}.hash"
    if elf.exists() and stamp.exists() and stamp.read_text() == key:
        return elf
    from armvirt.build import BuildError
    try:
        elf = build_firmware(mode, out_dir)
    except BuildError as e:
        raise LaunchError(f"the firmware does not assemble: {e}") from None
    stamp.write_text(key)
    return elf


def manifest_bytes(p: Plan, loaded: list[_VMMemory]) -> bytes:
    M, V = abi.MANIFEST, abi.VM
    buf = bytearray(M.size)
    M.put(buf, 0, "MAGIC", abi.MANIFEST_MAGIC)
    M.put(buf, 0, "VERSION", abi.MANIFEST_VERSION)
    M.put(buf, 0, "NR_VMS", len(p.vms))
    M.put(buf, 0, "NR_PES", p.smp)
    M.put(buf, 0, "RAM_SIZE", p.ram_size)
    for i, (vm, mem) in enumerate(zip(p.vms, loaded)):
        base = M.off("VMS") + i * V.size
        V.put(buf, base, "NAME", vm.name.encode())
        V.put(buf, base, "PA_BASE", vm.pa_base)
        V.put(buf, base, "MEM_SIZE", vm.cfg.mem)
        entry, dtb = mem.entry or 0, mem.x0
        if not vm.cfg.stage2:       # IPA = PA: the loader's guest-physical addresses move
            entry = entry - abi.GUEST_RAM_BASE + vm.pa_base
        V.put(buf, base, "ENTRY", entry)
        V.put(buf, base, "DTB", dtb)
        V.put(buf, base, "NR_VCPUS", vm.cfg.vcpus)
        flags = 0 if vm.cfg.stage2 else abi.VM_F_NO_STAGE2
        if i == 0 and vm.cfg.stage2:
            flags |= abi.VM_F_CONSOLE_IN     # what is typed goes to the first VM's PL011
        V.put(buf, base, "FLAGS", flags)
        V.put(buf, base, "PIN", bytes(vm.pin))
        if vm.cfg.bios is not None:
            fpa = flash_pa(vm)
            V.put(buf, base, "FLASH_PA", fpa)
            V.put(buf, base, "DTB_COPY", fpa + 2 * memmap.FLASH_BANK_SIZE)
            V.put(buf, base, "DTB_SIZE", len(mem.dtb_blob))
    return bytes(buf)


def flash_pa(vm: PlannedVM) -> int:
    """Physical address of a bios VM's flash banks: right after its RAM."""
    return vm.pa_base + vm.cfg.mem


def load_vm_bios(m, vm: PlannedVM, target: _VMMemory) -> BootInfo:
    """A VM started from firmware, as ``loader.load_bios`` does on the bare board: the bios in
    its flash bank 0, its ``pflash`` file (or zeros) in bank 1, the device tree at the start of
    its RAM and a private copy after the banks (for its resets), vCPU 0 at IPA 0 with x0 = 0."""
    from armvirt import pflash as pf
    from armvirt.loader import _firmware_dtb
    try:
        bios = pf.read_bios(vm.cfg.bios, "bios")
        store = pf.read_pflash(vm.cfg.pflash, "pflash") if vm.cfg.pflash is not None else None
    except ValueError as e:
        raise LaunchError(f"VM {vm.name}: {e}") from None
    blob = _firmware_dtb(target, vm.cfg.append, vm.cfg.dtb)
    fpa = flash_pa(vm)
    m.write_phys(fpa, bios)
    if store is not None:
        m.write_phys(fpa + memmap.FLASH_BANK_SIZE, store)
    if len(blob) > abi.VM_FLASH_PRIV:
        raise LoadError(f"the device tree ({len(blob)} bytes) is larger than "
                        f"{abi.VM_FLASH_PRIV >> 20} MiB")
    m.write_phys(fpa + 2 * memmap.FLASH_BANK_SIZE, blob)
    target.write_phys(abi.GUEST_RAM_BASE, blob)
    target.dtb_blob = blob
    target.entry, target.x0 = memmap.FLASH_BASE, 0
    return BootInfo(kind="bios", entry=memmap.FLASH_BASE, dtb_addr=abi.GUEST_RAM_BASE,
                    segments=[(memmap.FLASH_BASE, len(bios))], path=vm.cfg.bios, dtb_blob=blob)


def unsent_output(m, run: "Launched") -> dict[str, bytes]:
    """What each VM printed of a line that its virtual PL011 has not sent to the console yet
    (the firmware sends whole lines; a VM that stops has its last one sent): for a run that is
    interrupted, so that nothing the guest printed is lost."""
    out = {}
    for i, vm in enumerate(run.plan.vms):
        base = manifest_vm_base(i)
        n = int.from_bytes(m.read_phys(base + abi.VM.off("CON_LEN"), 8), "little")
        if 0 < n <= abi.CONSOLE_LINE:
            out[vm.name] = m.read_phys(base + abi.VM.off("CON_BUF"), n)
    return out


def save_flash(m, run: "Launched") -> None:
    """Write each bios VM's flash bank 1 back to its ``pflash`` file (QEMU's pflash drive keeps
    the guest's changes): at the end of a run, however it ended."""
    for vm in run.plan.vms:
        if vm.cfg.pflash is None:
            continue
        data = m.read_phys(flash_pa(vm) + memmap.FLASH_BANK_SIZE, memmap.FLASH_BANK_SIZE)
        with open(vm.cfg.pflash, "r+b") as f:
            f.write(data)


def launch(cfg: HvConfig, *, uart: Callable[[bytes], None] | None = None,
           trace: tuple[str, ...] | list[str] = (), firmware: Path | None = None,
           profile=None):
    """Plan, build a Machine, load firmware, images, device trees and manifest, and start every
    PE at the firmware's entry at EL2. Returns ``(machine, Launched)``; nothing has run yet.
    ``profile``: the cost profile (``armvirt.costs.load``; None: the default)."""
    from armvirt.machine import Machine, MachineError
    p = plan(cfg)
    fw_path = firmware or ensure_firmware(p.mode)
    fw = read_elf(fw_path.read_bytes(), str(fw_path))
    end = fw.symbols.get("hv_end")
    if end is None or end > abi.HV_MANIFEST:
        raise LaunchError(f"{fw_path}: the firmware image does not end below the manifest "
                          f"(0x{abi.HV_MANIFEST:x})")
    try:
        # The board's own PSCI answers SMC: the firmware's (EL2, or the host part at EL1) calls
        # to switch the machine off. Guests' HVC and SMC trap to the hypervisor.
        m = Machine(ram_size=p.ram_size, smp=p.smp, psci_conduit="smc", uart=uart, trace=trace,
                    profile=profile)
    except MachineError as e:
        raise LaunchError(str(e)) from None
    for seg in fw.segments:
        m.write_phys(seg.paddr, seg.data)
    loaded: list[_VMMemory] = []
    boots: list[BootInfo | None] = []
    for vm in p.vms:
        target = _VMMemory(m, vm)
        try:
            if vm.cfg.bios is not None:
                boots.append(load_vm_bios(m, vm, target))
                loaded.append(target)
                continue
            boots.append(load_image(target, vm.cfg.image, kind=vm.cfg.kind,
                                    load_addr=vm.cfg.load_addr, bootargs=vm.cfg.append,
                                    dtb=vm.cfg.stage2, initrd=vm.cfg.initrd,
                                    dtb_file=vm.cfg.dtb))
        except LoadError as e:
            raise LaunchError(f"VM {vm.name}: {e}") from None
        loaded.append(target)
    m.write_phys(abi.HV_MANIFEST, manifest_bytes(p, loaded))
    for pe in range(p.smp):
        m.boot_pe(pe, fw.entry, el=2, x0=abi.HV_MANIFEST)
    return m, Launched(p, fw_path, fw.symbols, boots)


# ------------------------------------------------------------------------------------ results
def manifest_vm_base(i: int) -> int:
    return abi.HV_MANIFEST + abi.MANIFEST.off("VMS") + i * abi.VM.size


def result(m, run: Launched) -> HvResult:
    """Read the firmware's account of the run back from the manifest and the vCPU records."""
    M, V, C = abi.MANIFEST, abi.VM, abi.VCPU
    man = m.read_phys(abi.HV_MANIFEST, M.size)
    states = {abi.HV_STATE_BOOT: "boot", abi.HV_STATE_RUNNING: "running",
              abi.HV_STATE_DONE: "done", abi.HV_STATE_PANIC: "panic"}
    hv_state = states.get(M.get(man, 0, "HV_STATE"), "unknown")
    vcpus_base = run.fw_symbols["vcpus"]
    vm_addr_to_index = {manifest_vm_base(i): i for i in range(len(run.plan.vms))}
    per_vm: dict[int, list[VCPUResult]] = {i: [] for i in range(len(run.plan.vms))}
    total = sum(vm.cfg.vcpus for vm in run.plan.vms)
    raw = m.read_phys(vcpus_base, total * C.size)
    for k in range(total):
        b = k * C.size
        vm_i = vm_addr_to_index.get(C.get(raw, b, "VM"))
        if vm_i is None:            # never created (the firmware stopped early)
            continue
        per_vm[vm_i].append(VCPUResult(
            C.get(raw, b, "INDEX"), C.get(raw, b, "PCPU"), C.get(raw, b, "EXITS"),
            {name: C.get(raw, b, "STAT", i) for i, name in enumerate(abi.STAT_NAMES)}))
    vms = []
    for i, vm in enumerate(run.plan.vms):
        base = M.off("VMS") + i * V.size
        st = V.get(man, base, "STATE")
        vms.append(VMResult(vm.name, abi.VM_STATE_NAMES.get(st, f"state {st}"), per_vm[i],
                            V.get(man, base, "ESR"), V.get(man, base, "ELR"),
                            V.get(man, base, "RESETS")))
    panic = None
    if hv_state == "panic":
        panic = {k.lower(): M.get(man, 0, f"PANIC_{k}") for k in ("PE", "ESR", "ELR", "FAR")}
    return HvResult(hv_state, vms, panic)
