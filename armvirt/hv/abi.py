"""What the hypervisor firmware and Python share: memory layout, structure layouts, numbers.

Everything here is defined once. ``python -m armvirt.hv.gen_abi`` (``make gen``) turns it into
``firmware/include/hv_abi.h``, the include every firmware source uses, so that no offset is
typed twice; ``tests/test_generated.py`` fails when the committed include is stale. The Python
side (:mod:`armvirt.hv.launch`) packs and reads the same structures with :class:`Struct`.

Structures (names after KVM's where there is a counterpart):

``CTXT``   a CPU context (KVM's ``struct kvm_cpu_context``): general registers, PC and PSTATE
           (ELR_EL2/SPSR_EL2 at an exit), FP/SIMD registers, and the EL1 system registers that
           the world switch moves (:data:`EL1_SYSREGS`). The host has one per PE, every vCPU
           one.
``VCPU``   a vCPU (``struct kvm_vcpu``): its CTXT first, then its VM, identity, power state,
           the EL2 configuration it runs with, the syndrome of its last exit (KVM's
           ``vcpu->arch.fault``) and exit counters.
``PCPU``   per-physical-PE data of the hypervisor (KVM's ``kvm_host_data`` + per-CPU hyp
           state), reached through TPIDR_EL2 at EL2 and TPIDR_EL1 in the host part.
``VM``     one virtual machine: its configuration, written by the Python loader into the boot
           manifest, then its run-time state, written by the firmware in place (Python reads
           the final state back after the run).
``MANIFEST`` the boot manifest header, followed by ``MAX_VMS`` VM records.
"""
from __future__ import annotations

from dataclasses import dataclass

from armvirt import costs, memmap
from armvirt import pflash as _pflash

# ---------------------------------------------------------------------------------------------
# Physical memory of a hypervisor run
# ---------------------------------------------------------------------------------------------
# [HV_BASE, HV_BASE + HV_SIZE): the firmware image (code, data, stacks, vCPUs, stage-2 tables)
# and, at HV_MANIFEST, the boot manifest. VM memory follows, each VM in its own 2 MiB-aligned
# block (stage 2 maps it with 2 MiB blocks).
HV_BASE = memmap.RAM_BASE
HV_SIZE = 2 << 20
HV_MANIFEST_OFFSET = 0x1F_0000
HV_MANIFEST = HV_BASE + HV_MANIFEST_OFFSET
VM_MEM_BASE = HV_BASE + HV_SIZE
VM_MEM_ALIGN = 2 << 20
VM_MEM_MIN = 2 << 20
VM_MEM_MAX = 4 << 30         # four level-2 tables per VM: IPA 0x4000_0000..0x1_4000_0000
# A VM with a ``bios`` has the virt board's two CFI flash banks at IPA FLASH_BASE (0x0) and
# 0x0400_0000 (firmware/host/vflash.S). Their contents live in physical RAM right after the
# VM's own (VM_FLASH_PA, 2 MiB-aligned): bank 0, bank 1, then VM_FLASH_PRIV, the hypervisor's
# private copy of the VM's device tree (written to the start of its RAM again at a reset).
VM_FLASH_PRIV = 2 << 20
VM_FLASH_SPAN = 2 * memmap.FLASH_BANK_SIZE + VM_FLASH_PRIV
# What the emulated banks answer: the same device as the bare board's (armvirt/pflash.py).
FLASH_ID_MANUFACTURER = _pflash.ID_MANUFACTURER
FLASH_ID_DEVICE = _pflash.ID_DEVICE
FLASH_SR_READY = _pflash.SR_READY
FLASH_SR_ERASE_ERROR = _pflash.SR_ERASE_ERROR
FLASH_SR_PROGRAM_ERROR = _pflash.SR_PROGRAM_ERROR
FLASH_CFI_TABLE = _pflash.cfi_table()      # bytes: rendered as FLASH_CFI_BYTES by gen_abi
FLASH_CFI_LEN = len(FLASH_CFI_TABLE)

MAX_VMS = 8
MAX_VCPUS_PER_VM = 8
MAX_VCPUS = 16               # vCPU structures in the firmware, all VMs together
MAX_PES = memmap.MAX_PES

# The guest's view (QEMU virt compatible): RAM at this IPA, PL011 and GIC where the board has
# them, and one device of our own, the doorbell (free space of the virt map, 0x0A00_4000 to
# 0x0C00_0000, holds nothing in QEMU).
GUEST_RAM_BASE = memmap.RAM_BASE
DOORBELL_BASE = 0x0B00_0000
DOORBELL_SIZE = 0x1000
# Doorbell registers (64-bit): a guest write to RING is a notification that the host-side
# backend handles; the backend records when it saw it (guest virtual counter) for the I/O
# latency benchmarks.
DOORBELL_RING = 0x00         # W: ring with a value; R: the last value rung
DOORBELL_COUNT = 0x08        # R: rings so far
DOORBELL_SEEN = 0x10         # R: CNTVCT (the guest's virtual count) when the backend saw the last ring
DOORBELL_SEEN_PMC = 0x18     # R: PMCCNTR_EL0 of the PE when the backend saw the last ring
DOORBELL_RAISE = 0x20        # W: the backend raises DOORBELL_INTID; R: PMCCNTR_EL0 when it last did
# The doorbell's interrupt (I/O latency in): an edge-triggered SPI of the VM's GIC, routed by
# its GICD_IROUTER like any other. INTID 80 (SPI 48): after the virtio-mmio range of the virt board.
DOORBELL_INTID = 80

# ---------------------------------------------------------------------------------------------
# Stage 2 (Arm ARM D8: VTCR_EL2, stage-2 block descriptors), 4 KiB granule
# ---------------------------------------------------------------------------------------------
S2_T0SZ = 25                 # 39-bit IPA space
S2_SL0 = 1                   # start at level 1: one 512-entry table, 1 GiB per entry
VTCR_PS_40BIT = 0b010
VTCR_VALUE = ((1 << 31) | (VTCR_PS_40BIT << 16) | (0b00 << 14) | (0b11 << 12) | (0b01 << 10)
              | (0b01 << 8) | (S2_SL0 << 6) | S2_T0SZ)   # RES1, PS, TG0 4K, SH0 IS, WBWA, SL0, T0SZ
S2_L2_TABLES = VM_MEM_MAX >> 30                          # level-2 tables per VM (RAM)
# the level-1 table, the level-2 ones of RAM, and one for IPA 0..1 GiB (the flash banks)
S2_PAGES_PER_VM = 1 + S2_L2_TABLES + 1
S2_FLASH_L2 = 1 + S2_L2_TABLES                           # its page in the VM's pool slot
S2_DESC_TABLE = 0b11
# Block: valid, MemAttr = 0b1111 (Normal WB), S2AP = 0b11 (read/write), SH = 0b11, AF = 1.
S2_DESC_BLOCK_RAM = 0b01 | (0xF << 2) | (0b11 << 6) | (0b11 << 8) | (1 << 10)
# A flash bank in read-array mode: the same, read-only (S2AP = 0b01) and executable, so that
# code runs from it in place and only writes (commands) fault (a permission fault, ISV = 1).
S2_DESC_BLOCK_ROM = 0b01 | (0xF << 2) | (0b01 << 6) | (0b11 << 8) | (1 << 10)
VTTBR_VMID_SHIFT = 48

# ---------------------------------------------------------------------------------------------
# Trap configuration (Arm ARM D19.2: HCR_EL2, CPTR_EL2, MDCR_EL2, CNTHCTL_EL2)
# ---------------------------------------------------------------------------------------------
HCR_VM, HCR_SWIO, HCR_FMO, HCR_IMO, HCR_AMO = 1 << 0, 1 << 1, 1 << 3, 1 << 4, 1 << 5
HCR_FB, HCR_BSU_IS = 1 << 9, 1 << 10
HCR_TWI, HCR_TWE, HCR_TSC, HCR_TIDCP, HCR_TACR, HCR_TSW = (1 << 13, 1 << 14, 1 << 19, 1 << 20,
                                                           1 << 21, 1 << 22)
HCR_RW = 1 << 31
# A guest (KVM's HCR_GUEST_FLAGS): stage 2, physical interrupts and SErrors to EL2, WFI/WFE,
# SMC, implementation-defined registers, ACTLR_EL1 and set/way cache maintenance trapped.
HCR_GUEST = (HCR_VM | HCR_SWIO | HCR_FMO | HCR_IMO | HCR_AMO | HCR_FB | HCR_BSU_IS | HCR_TWI
             | HCR_TWE | HCR_TSC | HCR_TIDCP | HCR_TACR | HCR_TSW | HCR_RW)
# The host part at EL1 (split build): EL1 is AArch64, nothing else trapped, no stage 2.
HCR_HOST = HCR_RW
CPTR_RES1 = 0x33FF
CPTR_TFP = 1 << 10           # FP/SIMD accesses trap to EL2: lazy FP switching
MDCR_TDA, MDCR_TDOSA, MDCR_TDRA = 1 << 9, 1 << 10, 1 << 11
MDCR_HPME = 1 << 7
MDCR_TDEBUG = MDCR_TDA | MDCR_TDOSA | MDCR_TDRA
# The PMU's event counters are partitioned by MDCR_EL2.HPMN: a guest owns counters
# 0..GUEST_PMU_COUNTERS-1 (PMCR_EL0.N reads that at EL1 and EL0) and the cycle counter; the
# hypervisor keeps the others (enabled by HPME) for its own measurements.
GUEST_PMU_COUNTERS = 4
GUEST_PMU_MASK = (1 << 31) | ((1 << GUEST_PMU_COUNTERS) - 1)   # PMCNTEN/PMINTEN/PMOVS bits
# A guest's debug registers trap (MDCR_EL2.TDA/TDOSA/TDRA) until it first touches one; then its
# own are loaded and it runs without those traps (KVM's lazy debug switch, host/debug.S).
MDCR_GUEST = MDCR_TDEBUG | MDCR_HPME | GUEST_PMU_COUNTERS
MDCR_HOST = MDCR_HPME | GUEST_PMU_COUNTERS
MDSCR_SS, MDSCR_KDE, MDSCR_MDE = 1 << 0, 1 << 13, 1 << 15
CNTHCTL_EL1PCTEN, CNTHCTL_EL1PCEN = 1 << 0, 1 << 1
CNTHCTL_GUEST = CNTHCTL_EL1PCTEN           # counter readable, EL1 physical timer trapped
#                                            (and emulated per vCPU: host/ptimer.S)
CNTHCTL_HOST = CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN
SPSR_EL1H_MASKED = 0x3C5                   # EL1h, D, A, I, F masked: how every EL1 starts
SPSR_EL1T = 0b0100
SPSR_EL1H = 0b0101
SPSR_M_MASK = 0xF
SPSR_SS = 1 << 21                          # software step: 0 once the stepped instruction is done

# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------
# Host -> EL2 hypercalls of the split build (our own ABI, in x0; KVM's __kvm_call_hyp).
HOST_HC_VCPU_RUN = 1         # x1 = vCPU: run it until an exit the host must see; x0 = exit code
HOST_HC_NOP = 2              # return at once (measures the host<->EL2 round trip)
HOST_HC_S2_FLUSH = 3         # x1 = VM: its stage-2 mapping changed; invalidate its TLB entries
                             # (KVM's __kvm_tlb_flush_vmid: TLBI at EL2 under the VM's VMID)

# Guest hypercalls (Arm DEN 0028 SMCCC): function ID in W0, results in X0..X3, X4..X17 kept.
SMCCC_VERSION = 0x8000_0000
SMCCC_ARCH_FEATURES = 0x8000_0001
SMCCC_VERSION_1_1 = 0x1_0001
SMCCC_NOT_SUPPORTED = -1
# Vendor Specific Hypervisor Service calls (owning entity 6), fast, SMC64.
ARMVIRT_HC_NOP = 0xC600_0000       # does nothing: the hypercall microbenchmark
ARMVIRT_HC_INFO = 0xC600_0001      # x1 = VM index, x2 = vCPU index, x3 = vCPUs in the VM
ARMVIRT_HC_MAX = ARMVIRT_HC_INFO

# Exit codes of __guest_enter (the vector that took the guest out; KVM's ARM_EXCEPTION_*)
EXC_SYNC = 1
EXC_IRQ = 2
EXC_FIQ = 3
EXC_SERROR = 4

# Phases of the hypervisor's time (armvirt/hv/phases.py): the firmware marks where each starts
# with ``phase NAME[, DIR]`` (a macro of hv_abi.h that only defines a symbol,
# ``__phase.NAME.DIR.<n>``); every firmware instruction belongs to the last marker before it in
# address order. The register groups are those of Dall et al., ISCA 2016, Table 3 (save and
# restore columns); "dispatch" is the code that finds out what the exit was and routes it,
# "handler" the code that emulates it, "host" the host part's run loop (scheduling, vGIC
# emulation around a run). "guest" (EL0/EL1 with stage 2 on) and "trap" (an instruction that
# takes an exception or ERETs: the exception entry and return themselves) need no marker.
# "pmu" and "debug" (the guest's PMU share and debug registers, switched lazily) are not in the
# paper's table: the KVM it measured switched neither.
PHASE_GROUPS = ("gp", "fp", "el1", "vgic", "timer", "el2", "stage2", "pmu", "debug")
PHASES = PHASE_GROUPS + ("dispatch", "handler", "host")
PHASE_DIRS = ("save", "restore", "run")

# Exit statistics per vCPU: one counter per class (VCPU_STAT + 8 * STAT_x). "irq" counts the
# exits a physical interrupt caused (a timer, a kick, the maintenance interrupt); "vsgi" the
# virtual SGIs the vCPU sent (trapped ICC_SGI1R_EL1 writes, also counted in "sysreg"), "virq"
# the virtual interrupts put in its list registers.
STAT_NAMES = ("hvc", "smc", "wfi", "wfe", "sysreg", "mmio", "dabt", "iabt", "fp", "irq",
              "other", "vsgi", "virq")
STATS = {name: i for i, name in enumerate(STAT_NAMES)}

# States
HV_STATE_BOOT, HV_STATE_RUNNING, HV_STATE_DONE, HV_STATE_PANIC = 0, 1, 2, 3
VM_STATE_NEW, VM_STATE_RUNNING, VM_STATE_OFF, VM_STATE_RESET, VM_STATE_CRASHED = 0, 1, 2, 3, 4
VM_STATE_NAMES = {VM_STATE_NEW: "not started", VM_STATE_RUNNING: "running",
                  VM_STATE_OFF: "powered off", VM_STATE_RESET: "asked for a reset",
                  VM_STATE_CRASHED: "stopped by the hypervisor"}
VCPU_OFF, VCPU_RUNNABLE, VCPU_BLOCKED = 0, 1, 2
# VCPU.DBG_DIRTY: where a vCPU's debug registers are (firmware/hyp/switch.S). 0: never used,
# accesses trap; DBG_TRAPPED: its first access trapped, they are loaded for the next run;
# DBG_LOADED: loaded around every run while the guest has debug exceptions enabled.
DBG_LOADED, DBG_TRAPPED = 1, 2
VM_F_NO_STAGE2 = 1 << 0      # bring-up: no stage 2, IPA = PA, no isolation (see firmware/README)
VM_F_CONSOLE_IN = 1 << 1     # what is typed on the board's UART goes to this VM's PL011
                             # (one VM: armvirt/hv/launch.py gives it to the first one)

# ---------------------------------------------------------------------------------------------
# Interrupts: the physical GIC as the hypervisor uses it, and the virtual GIC of each VM
# ---------------------------------------------------------------------------------------------
# Physical side. Every interrupt the hypervisor enables is Group 1, priority 0, taken only as a
# guest exit (HCR_EL2.IMO) or polled after WFI; its CPU interface runs with ICC_CTLR_EL1.EOImode
# = 1, so an EOI only drops the priority and ICC_DIR_EL1 deactivates: the virtual timer's PPI
# stays active while the guest owns its virtual twin (a list register with HW = 1), and the
# guest's EOI of the virtual interrupt deactivates the physical one (IHI 0069 6.3.1).
SGI_KICK = 0                 # a PE tells another "look at your vCPUs again" (the kick IPI)
UART_INTID = 32 + memmap.UART_SPI   # the board's PL011 (receive: the console input VM's) and
                                    # each VM's virtual PL011, at the same INTID
ICC_CTLR_EOIMODE = 1 << 1
# The host part's own timer for waking up (a blocked vCPU's virtual timer deadline) and time
# slicing: the EL2 physical timer (CNTHP, PPI 26) in the direct build; in the split build the
# host part runs at EL1 and, like KVM/ARM's host kernel, uses the EL1 physical timer (CNTP,
# PPI 30), which guests cannot reach (CNTHCTL_EL2.EL1PCEN = 0 while they run).
HOST_TIMER_PPI_SPLIT = memmap.PPI_PHYS_TIMER
HOST_TIMER_PPI_DIRECT = memmap.PPI_HYP_TIMER
# Time slicing: a vCPU that shares its PE with other runnable vCPUs runs at most this long (in
# counter ticks) before the host timer takes it out and the next one runs (round robin).
TIME_SLICE_TICKS = costs.COUNTER_HZ // 1000     # 1 ms

# Virtual side: what each VM's emulated GICv3 reports. The same values as the board's GIC
# (armvirt/devices/gic.py, QEMU's virt): 256 INTIDs, no LPIs, 1-of-N routing not supported.
VGIC_NUM_INTIDS = memmap.GIC_NUM_INTIDS
VGIC_NWORDS = VGIC_NUM_INTIDS // 32
VGICD_TYPER = (1 << 25) | (1 << 24) | (0xF << 19) | (VGIC_NWORDS - 1)   # No1N, A3V, IDbits, ITLines
VGIC_IIDR = 0x43B            # implementer Arm (JEP106 0x43B), as QEMU's GIC reports
VGICD_CTLR_ARE_DS = (1 << 4) | (1 << 6)   # ARE and DS: RAO/WI (one Security state, affinity routing)
VGICR_WAKER_RESET = 0b110    # ProcessorSleep | ChildrenAsleep
VGIC_ICFGR0 = 0xAAAA_AAAA    # SGIs: edge-triggered, read-only
VGIC_MAX_LRS = 16            # ICH_VTR_EL2.ListRegs + 1 is at most 16
VGIC_PRI_BITS = 5            # virtual priority bits (ICH_VTR_EL2.PRIbits + 1) the firmware expects
VGIC_PRIO_MASK = (0xFF << (8 - VGIC_PRI_BITS)) & 0xFF
VGIC_NO_TARGET = 0xFF        # an SPI whose GICD_IROUTER names no vCPU of the VM (or IRM = 1)
ICH_HCR_EN = 1 << 0
ICH_HCR_UIE = 1 << 1         # maintenance interrupt when at most one list register is valid
LR_STATE_SHIFT = 62          # ICH_LR<n>_EL2: State [63:62] (1 pending, 2 active, 3 both)
LR_PENDING = 1 << 62
LR_HW = 1 << 61
LR_GROUP1 = 1 << 60
LR_PRIO_SHIFT = 48
LR_PINTID_SHIFT = 32

# Console: every line the firmware puts on the physical UART is "[tag] text\n" (a complete line
# of the source) or "[tag]~ text\n" (a partial line: the newline is not the source's).
VM_NAME_LEN = 16
CONSOLE_LINE = 120
HV_TAG = "hv"

MANIFEST_MAGIC = int.from_bytes(b"ARMVHV01", "little")
MANIFEST_VERSION = 1

# EL1 system registers a world switch saves and restores, in save order (Arm ARM names; all
# accessible by MRS/MSR at EL2). The virtual timer (CNTV_CTL_EL0, CNTV_CVAL_EL0) is not in this
# list: it is a vCPU's only (VCPU_CNTV_*; the host part has none), restored after CNTVOFF_EL2 and
# switched off when saved (firmware/hyp/vgic-v3-sr.S).
EL1_SYSREGS = ("SCTLR_EL1", "ACTLR_EL1", "CPACR_EL1", "TTBR0_EL1", "TTBR1_EL1", "TCR_EL1",
               "ESR_EL1", "AFSR0_EL1", "AFSR1_EL1", "FAR_EL1", "MAIR_EL1", "AMAIR_EL1",
               "VBAR_EL1", "CONTEXTIDR_EL1", "CNTKCTL_EL1", "PAR_EL1", "TPIDR_EL1",
               "CSSELR_EL1", "SP_EL1", "ELR_EL1", "SPSR_EL1", "SP_EL0", "TPIDR_EL0",
               "TPIDRRO_EL0")


# ---------------------------------------------------------------------------------------------
# Structures
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    size: int = 8            # bytes of one element
    count: int = 1
    align: int = 8
    doc: str = ""


class Struct:
    """A C-like structure: fields laid out in order, each aligned; offsets as ``PREFIX_NAME``."""

    def __init__(self, prefix: str, fields: list[Field], doc: str = ""):
        self.prefix, self.fields, self.doc = prefix, fields, doc
        self.offsets: dict[str, int] = {}
        off = 0
        for f in fields:
            off = (off + f.align - 1) // f.align * f.align
            self.offsets[f.name] = off
            off += f.size * f.count
        self.size = (off + 15) // 16 * 16
        self.by_name = {f.name: f for f in fields}

    def off(self, name: str) -> int:
        return self.offsets[name]

    def render(self) -> list[str]:
        lines = [f"// {self.prefix}: {self.doc}"] if self.doc else []
        for f in self.fields:
            extra = f"  // {f.count} x {f.size} bytes" if f.count > 1 else ""
            if f.doc:
                extra += ("  " if extra else "  // ") + f.doc
            lines.append(f"#define {self.prefix}_{f.name} {self.offsets[f.name]}{extra}")
        lines.append(f"#define {self.prefix}_SIZE {self.size}")
        return lines

    # Python side: a field's value at ``base`` in a bytes-like image
    def get(self, buf: bytes | bytearray, base: int, name: str, index: int = 0) -> int:
        f = self.by_name[name]
        o = base + self.offsets[name] + index * f.size
        return int.from_bytes(buf[o:o + f.size], "little", signed=False)

    def put(self, buf: bytearray, base: int, name: str, value: int | bytes, index: int = 0) -> None:
        f = self.by_name[name]
        o = base + self.offsets[name] + index * f.size
        if isinstance(value, (bytes, bytearray)):
            if len(value) > f.size * f.count:
                raise ValueError(f"{self.prefix}.{name}: {len(value)} bytes do not fit")
            buf[o:o + len(value)] = value
        else:
            buf[o:o + f.size] = (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "little")


F = Field
CTXT = Struct("CTXT", [
    F("REGS", count=31, doc="X0..X30"),
    F("PC", doc="ELR_EL2 when the context was left"),
    F("PSTATE", doc="SPSR_EL2 when the context was left"),
    F("VREGS", size=16, count=32, align=16, doc="Q0..Q31"),
    F("FPSR"),
    F("FPCR"),
    *[F(f"SYS_{name}") for name in EL1_SYSREGS],
], "a CPU context (KVM's struct kvm_cpu_context)")

VCPU = Struct("VCPU", [
    F("CTXT", size=CTXT.size, align=16, doc="the guest's registers: first, so a VCPU is a CTXT"),
    F("VM", doc="address of its VM record"),
    F("INDEX", doc="vCPU number in the VM (its MPIDR Aff0)"),
    F("MPIDR", doc="VMPIDR_EL2: what MPIDR_EL1 reads in the guest"),
    F("PCPU", doc="physical PE it is pinned to"),
    F("POWER", doc="VCPU_OFF | VCPU_RUNNABLE | VCPU_BLOCKED"),
    F("HCR", doc="HCR_EL2 while it runs"),
    F("FAULT_ESR", doc="ESR_EL2 of the last exit"),
    F("FAULT_FAR", doc="FAR_EL2 of the last exit"),
    F("FAULT_HPFAR", doc="HPFAR_EL2 of the last exit"),
    F("EXITS", doc="exits so far, all classes"),
    F("STAT", count=len(STAT_NAMES), doc="exits per class (STAT_*)"),
    # The virtual timer (KVM: struct arch_timer_context): in the PE while the vCPU runs
    F("CNTV_CTL", doc="CNTV_CTL_EL0 (ENABLE, IMASK)"),
    F("CNTV_CVAL", doc="CNTV_CVAL_EL0, in the VM's virtual count"),
    # The virtual CPU interface (KVM: struct vgic_v3_cpu_if): in the PE while the vCPU runs
    F("VGIC_HCR", doc="ICH_HCR_EL2"),
    F("VGIC_VMCR", doc="ICH_VMCR_EL2: the guest's ICC_PMR/BPR/IGRPEN/CTLR"),
    F("VGIC_AP0R", doc="ICH_AP0R0_EL2"),
    F("VGIC_AP1R", doc="ICH_AP1R0_EL2"),
    F("VGIC_LR", count=VGIC_MAX_LRS, doc="ICH_LR<n>_EL2"),
    F("VGIC_USED", doc="list registers that hold an interrupt (bit n: ICH_LR<n>_EL2)"),
    # Its redistributor as the guest programs it (INTIDs 0-31: SGIs and PPIs)
    F("VGICR_WAKER", doc="GICR_WAKER"),
    F("VGICR_GROUP", doc="GICR_IGROUPR0"),
    F("VGICR_ENABLE", doc="GICR_ISENABLER0"),
    F("VGICR_PEND", doc="pending, not yet in a list register (GICR_ISPENDR0, SGIs)"),
    F("VGICR_EDGE", doc="edge-triggered PPIs (GICR_ICFGR1), SGIs always"),
    F("VGICR_PRIO", size=1, count=32, doc="GICR_IPRIORITYR<n>"),
    # The EL1 physical timer, emulated (KVM: the ptimer's struct arch_timer_context): every
    # CNTP_* access traps (CNTHCTL_EL2.EL1PCEN = 0); its line is compared in software
    F("CNTP_CTL", doc="CNTP_CTL_EL0 (ENABLE, IMASK)"),
    F("CNTP_CVAL", doc="CNTP_CVAL_EL0, in the physical count"),
    # The guest's share of the PMU (counters below HPMN and the cycle counter), in the PE
    # while PCPU_PMU_OWNER names this vCPU (host/pmu.S)
    F("PMCR", doc="PMCR_EL0"),
    F("PMSELR", doc="PMSELR_EL0"),
    F("PMCNTEN", doc="PMCNTENSET_EL0, the guest's bits"),
    F("PMINTEN", doc="PMINTENSET_EL1, the guest's bits"),
    F("PMOVS", doc="PMOVSSET_EL0, the guest's bits"),
    F("PMUSERENR", doc="PMUSERENR_EL0"),
    F("PMCCFILTR", doc="PMCCFILTR_EL0"),
    F("PMCCNTR", doc="PMCCNTR_EL0"),
    F("PMEVTYPER", count=GUEST_PMU_COUNTERS, doc="PMEVTYPER<n>_EL0"),
    F("PMEVCNTR", count=GUEST_PMU_COUNTERS, doc="PMEVCNTR<n>_EL0"),
    # Self-hosted debug state (KVM: debug.c), in the PE while DBG_DIRTY is set
    F("DBG_DIRTY", doc="not 0: its debug registers go into the PE, untrapped (hyp/switch.S)"),
    F("MDSCR", doc="MDSCR_EL1"),
    F("OSLK", doc="OSLSR_EL1.OSLK: the OS lock (1 at reset)"),
    F("OSDLR", doc="OSDLR_EL1"),
    F("MDCCINT", doc="MDCCINT_EL1"),
    F("DBGCLAIM", doc="DBGCLAIMSET/CLR_EL1: the claim tags"),
    F("DBG_BVR", count=16, doc="DBGBVR<n>_EL1, n < ID_AA64DFR0_EL1.BRPs + 1"),
    F("DBG_BCR", count=16, doc="DBGBCR<n>_EL1"),
    F("DBG_WVR", count=16, doc="DBGWVR<n>_EL1, n < ID_AA64DFR0_EL1.WRPs + 1"),
    F("DBG_WCR", count=16, doc="DBGWCR<n>_EL1"),
], "a virtual CPU (KVM's struct kvm_vcpu)")

PCPU = Struct("PCPU", [
    F("HOST_CTXT", size=CTXT.size, align=16, doc="the host part's context (split build)"),
    F("HYP_REGS", count=14, doc="x18..x30 and SP of the caller of __guest_enter"),
    F("INDEX", doc="this PE's number"),
    F("VCPU", doc="the vCPU running on this PE now, or 0"),
    F("FP_OWNER", doc="the context whose FP/SIMD state is in the registers, or 0"),
    F("LOADED", doc="direct build: the vCPU whose EL1 state is in the registers, or 0"),
    F("LAST", doc="scheduler: index of the vCPU run last"),
    F("RELEASE", doc="boot: the primary PE sets it to start this PE"),
    F("EL2_SP", doc="top of this PE's EL2 stack"),
    F("HOST_SP", doc="top of this PE's host stack"),
    F("VTIMER_ACTIVE", doc="1 while this PE's physical PPI 27 is active (host/vgic.S)"),
    F("TIMER_AT", doc="the host timer's compare value (physical count), -1 when it is off"),
    F("PMU_OWNER", doc="the vCPU whose share of the PMU is in the registers, or 0"),
    F("PMU_ACTIVE", doc="1 while this PE's physical PPI 23 is active (host/vgic.S)"),
], "per-PE hypervisor data (TPIDR_EL2; TPIDR_EL1 in the host part)")

VGICD = Struct("VGICD", [
    F("LOCK", doc="spinlock over the VM's virtual GIC state (distributor and redistributors)"),
    F("VM", doc="address of its VM record"),
    F("CTLR", doc="GICD_CTLR: EnableGrp0 | EnableGrp1"),
    # Bit arrays for INTIDs 32n..32n+31 in word n (n = 0, the SGIs and PPIs, is per vCPU)
    F("GROUP", count=VGIC_NWORDS, doc="GICD_IGROUPR<n>"),
    F("ENABLE", count=VGIC_NWORDS, doc="GICD_ISENABLER<n>"),
    F("PEND", count=VGIC_NWORDS, doc="pending, not yet in a list register"),
    F("PEND_WORDS", doc="bit n set: PEND word n may be non-zero (a flush's quick look)"),
    F("EDGE", count=VGIC_NWORDS, doc="edge-triggered (GICD_ICFGR<n>)"),
    F("PRIO", size=1, count=VGIC_NUM_INTIDS, doc="GICD_IPRIORITYR<n>"),
    F("TARGET", size=1, count=VGIC_NUM_INTIDS, doc="vCPU an SPI goes to, VGIC_NO_TARGET for none"),
    F("ROUTE", count=VGIC_NUM_INTIDS, doc="GICD_IROUTER<n>"),
], "a VM's emulated GICv3 distributor (KVM: struct vgic_dist); array vgic_dists, by VM index")

VM = Struct("VM", [
    # Configuration (written by the Python loader)
    F("NAME", size=1, count=VM_NAME_LEN, align=8, doc="console tag, NUL-terminated"),
    F("PA_BASE", doc="physical address of its RAM (= IPA GUEST_RAM_BASE)"),
    F("MEM_SIZE", doc="bytes of RAM, a multiple of 2 MiB"),
    F("ENTRY", doc="IPA where vCPU 0 starts"),
    F("DTB", doc="IPA of its device tree (x0 at entry), or 0"),
    F("NR_VCPUS"),
    F("FLAGS", doc="VM_F_*"),
    F("PIN", size=1, count=MAX_VCPUS_PER_VM, align=8, doc="physical PE of each vCPU"),
    # Run-time state (written by the firmware)
    F("STATE", doc="VM_STATE_*"),
    F("INDEX", doc="its slot in the manifest"),
    F("VMID"),
    F("VTTBR", doc="VTTBR_EL2: VMID and the level-1 table"),
    F("CNTVOFF", doc="CNTVOFF_EL2: the counter when it was created"),
    F("LOCK", doc="spinlock over its vCPUs' power states"),
    F("VCPUS", doc="address of its first VCPU"),
    F("ESR", doc="the exit that stopped it (VM_STATE_CRASHED)"),
    F("ELR"),
    F("FAR"),
    F("CON_LEN", doc="bytes in CON_BUF"),
    F("CON_BUF", size=1, count=CONSOLE_LINE, align=8, doc="the virtual UART's current line"),
    F("UART_REGS", count=8, doc="PL011 CR, LCR_H, IBRD, FBRD, IFLS, IMSC, RIS, DMACR"),
    F("UART_POLLS", doc="UARTFR reads since the last UARTDR write (2: the guest polls)"),
    # Flash (a VM with a bios; firmware/host/vflash.S): config from Python, then per-bank state
    F("FLASH_PA", doc="physical address of its flash banks (VM_FLASH_SPAN bytes), or 0"),
    F("DTB_COPY", doc="physical address of the pristine device tree (a reset rewrites it)"),
    F("DTB_SIZE", doc="its size in bytes"),
    F("FL_CMD", count=2, doc="per bank: the command in progress (0: read array)"),
    F("FL_WCYCLE", count=2, doc="per bank: write cycle of the command"),
    F("FL_STATUS", count=2, doc="per bank: status register (SR.7 ready, SR.5, SR.4 errors)"),
    F("FL_COUNTER", count=2, doc="per bank: write-to-buffer words left"),
    F("FL_UNMAPPED", count=2, doc="per bank: 1 while out of stage 2 (not in read-array mode)"),
    F("RESETS", doc="system resets carried out (PSCI SYSTEM_RESET of a VM with a bios)"),
    F("DB_VALUE", doc="doorbell: last value rung"),
    F("DB_COUNT", doc="doorbell: rings"),
    F("DB_SEEN", doc="doorbell: guest virtual count when the backend saw the last ring"),
    F("DB_SEEN_PMC", doc="doorbell: PMCCNTR_EL0 when the backend saw the last ring"),
    F("DB_RAISED_PMC", doc="doorbell: PMCCNTR_EL0 when the backend last raised its interrupt"),
], "a virtual machine: configuration (from Python), then run-time state (firmware)")

MANIFEST = Struct("MAN", [
    F("MAGIC", doc="MANIFEST_MAGIC"),
    F("VERSION"),
    F("NR_VMS"),
    F("NR_PES", doc="physical PEs of the board"),
    F("RAM_SIZE", doc="bytes of physical RAM from HV_BASE"),
    F("HV_STATE", doc="HV_STATE_*, written by the firmware"),
    F("PANIC_PE"),
    F("PANIC_ESR"),
    F("PANIC_ELR"),
    F("PANIC_FAR"),
    F("VMS", size=VM.size, count=MAX_VMS, align=16, doc="VM records"),
], "the boot manifest, at HV_MANIFEST")

STRUCTS = (CTXT, VCPU, PCPU, VM, MANIFEST, VGICD)

# Numeric constants exported to the firmware, by name
CONSTANTS = {name: value for name, value in dict(globals()).items()
             if name.isupper() and isinstance(value, int) and not name.startswith("_")}


def sysreg_reset(name: str) -> int:
    """Reset value of a system register, from the core's table (for a vCPU's reset)."""
    from armvirt.cpu import sysreg_table as T
    for r in T.SYSREGS:
        if r.name == name:
            return r.reset & ((1 << 64) - 1)
    raise KeyError(name)


def check_layout() -> None:
    """Invariants the assembly relies on (checked by the generator)."""
    assert VCPU.off("CTXT") == 0, "a VCPU pointer must be its CTXT pointer"
    assert PCPU.off("HOST_CTXT") == 0
    assert CTXT.off("VREGS") % 16 == 0
    assert MANIFEST.off("VMS") % 16 == 0 and VM.size % 16 == 0
    assert MANIFEST.off("VMS") + MAX_VMS * VM.size <= HV_SIZE - HV_MANIFEST_OFFSET
    # LDR/STR Xt, [Xn, #imm] reach 32760 bytes: every VCPU and VGICD field is one instruction
    assert VCPU.size <= 32760 and VGICD.size <= 32760
    from armvirt.cpu.sysreg_table import GIC_PRI_BITS, PMU_N
    assert 0 < GUEST_PMU_COUNTERS < PMU_N, "the hypervisor keeps some event counters"
    assert VGIC_PRI_BITS == GIC_PRI_BITS, "the board's GIC implements other priority bits"
    # LDP/STP of X registers reach +504 bytes from a base; the save/restore code adds
    # the CTXT offsets to a base register instead, so nothing else limits the layout.
