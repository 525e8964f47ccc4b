"""The system-register file, as data: one record per register (in the spirit of QEMU's ARMCPRegInfo).

Each record gives the Arm ARM name, the MRS/MSR encoding (op0, op1, CRn, CRm, op2), the reset
value, which accesses exist, the EL0 access rule, the EL2 trap controls that apply, and how the
access is carried out (``KIND``). ``python -m armvirt.gen_layout`` turns this table into slot
constants (``armvirt/cpu/_sysregs.py``); ``armvirt.cpu.sysregs`` turns it into the arrays the
jitted MRS/MSR handlers consult. Nothing else in the project states an encoding or a reset value.

Values of the ID registers say exactly what the core implements; change them in the same commit
that changes the implementation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SYSREG_BASE = 129  # first system-register slot in a PE's state row (armvirt.layout imports it)

# Access kinds
ACC_R = 1
ACC_W = 2
ACC_RW = 3

# EL0 access rules (checked when PSTATE.EL == 0 and the register's lowest EL is 0)
EL0_NONE = 0      # not accessible from EL0: UNDEFINED
EL0_RW = 1        # always accessible
EL0_RO = 2        # readable at EL0, writes UNDEFINED (TPIDRRO_EL0)
EL0_UMA = 3       # SCTLR_EL1.UMA (DAIF): else trap to EL1, EC 0x18
EL0_UCT = 4       # SCTLR_EL1.UCT (CTR_EL0): else trap to EL1, EC 0x18
EL0_FP = 5        # FPCR/FPSR: accessible, subject to the FP access traps (CPACR/CPTR)
EL0_CNTFRQ = 6    # CNTKCTL_EL1.EL0PCTEN | EL0VCTEN
EL0_CNTPCT = 7    # CNTKCTL_EL1.EL0PCTEN
EL0_CNTVCT = 8    # CNTKCTL_EL1.EL0VCTEN
EL0_CNTP = 9      # CNTKCTL_EL1.EL0PTEN: the EL1 physical timer (CNTP_*)
EL0_CNTV = 10     # CNTKCTL_EL1.EL0VTEN: the virtual timer (CNTV_*)
EL0_PMU = 11      # PMUSERENR_EL0.EN (else trap to EL1)
EL0_PMU_CR = 12   # PMCCNTR_EL0: EN, or CR for reads
EL0_PMU_SW = 13   # PMSWINC_EL0: EN or SW
EL0_PMU_ER = 14   # PMXEVCNTR_EL0: EN, or ER for reads
EL0_PMU_SEL = 15  # PMSELR_EL0: EN or ER

# EL2 trap controls (bits of SRI_TRAPS); the register is trapped to EL2 (EC 0x18) from EL0/EL1
TRAP_TVM = 1 << 0     # HCR_EL2.TVM: writes of the stage-1 control registers
TRAP_TRVM = 1 << 1    # HCR_EL2.TRVM: reads of the same
TRAP_TID1 = 1 << 2    # HCR_EL2.TID1: REVIDR_EL1, AIDR_EL1
TRAP_TID2 = 1 << 3    # HCR_EL2.TID2: CTR_EL0, CCSIDR_EL1, CLIDR_EL1, CSSELR_EL1
TRAP_TID3 = 1 << 4    # HCR_EL2.TID3: the ID group 3 registers
TRAP_TACR = 1 << 5    # HCR_EL2.TACR: ACTLR_EL1
TRAP_TCPAC = 1 << 6   # CPTR_EL2.TCPAC: CPACR_EL1
TRAP_TDA = 1 << 7     # MDCR_EL2.TDA: debug registers other than the OS lock ones
TRAP_TDOSA = 1 << 8   # MDCR_EL2.TDOSA: OS lock / power-down registers
TRAP_TDRA = 1 << 9    # MDCR_EL2.TDRA: debug ROM address register
TRAP_CNTP = 1 << 10   # CNTHCTL_EL2.EL1PCEN = 0: EL0/EL1 accesses to the EL1 physical timer
TRAP_TPM = 1 << 11    # MDCR_EL2.TPM: every Performance Monitors register
TRAP_TPMCR = 1 << 12  # MDCR_EL2.TPMCR: PMCR_EL0
TRAP_TVM_RW = TRAP_TVM | TRAP_TRVM

# How an access is carried out
KIND_PLAIN = 0     # stored in its slot: reads return it, writes keep the writable bits (WMASK)
KIND_CONST = 1     # reads return the reset value; writes (if allowed at all) are ignored
KIND_SPECIAL = 2   # computed or with side effects: armvirt.cpu.sysregs handles it by name
# Device-backed registers: the device module carries out the access, including the traps that
# depend on the device's own state (ICH_HCR_EL2.TALL1, PMUSERENR_EL0, ...).
KIND_GIC = 3       # armvirt.devices.gic_sysregs: ICC_*/ICV_* (the CPU interface), ICH_*
KIND_TIMER = 4     # armvirt.devices.timer: CNTP_*, CNTV_*, CNTHP_*, CNTVOFF_EL2
KIND_PMU = 5       # armvirt.devices.pmu: PM* (the cycle counter and its controls)

# Behaviour flags
SRF_REGIME = 1 << 0   # a write changes the translation regime: drop cached translations
SRF_ATTN = 1 << 1     # a write may make an interrupt deliverable: re-check before next insn
SRF_NOSLOT = 1 << 2   # no storage


@dataclass(frozen=True)
class SysReg:
    name: str
    op0: int
    op1: int
    crn: int
    crm: int
    op2: int
    reset: int = 0
    access: int = ACC_RW
    el0: int = EL0_NONE
    traps: int = 0
    kind: int = KIND_PLAIN
    wmask: int = -1          # writable bits (as int64: -1 = all)
    flags: int = 0
    doc: str = ""

    @property
    def encoding(self) -> int:
        """op0:op1:CRn:CRm:op2 packed into 16 bits (the index into S_SR_INDEX)."""
        return (self.op0 << 14) | (self.op1 << 11) | (self.crn << 7) | (self.crm << 3) | self.op2

    @property
    def min_el(self) -> int:
        """Lowest EL with access, from op1 (Arm ARM D12.3.1 'Instructions for accessing
        system registers': op1 0-2 → EL1, 3 → EL0, 4/5 → EL2, 6 → EL3, 7 → EL1)."""
        return {0: 1, 1: 1, 2: 1, 3: 0, 4: 2, 5: 2, 6: 3, 7: 1}[self.op1]


def _s64(v: int) -> int:
    return v - (1 << 64) if v >= (1 << 63) else v


RES1_SCTLR_EL1 = (1 << 29) | (1 << 28) | (1 << 23) | (1 << 22) | (1 << 20) | (1 << 11)
RES1_SCTLR_EL2 = 0x30C50830
RES1_CPTR_EL2 = 0x33FF
RES1_TCR_EL2 = (1 << 31) | (1 << 23)
RES1_VTCR_EL2 = 1 << 31
HCR_RW = 1 << 31

# What the core implements (Arm ARM D19.2 ID registers). See the module docstring.
ID_AA64PFR0 = 0x1 | (0x1 << 4) | (0x1 << 8) | (0x1 << 24)  # EL0-EL2 AArch64-only; no EL3;
#                                                  FP, AdvSIMD; GIC = 1: GICv3 system registers
# Armv8.0 debug, PMUv3, 6 breakpoints (BRPs = 5) of which 2 context-aware (CTX_CMPs = 1), 4
# watchpoints (WRPs = 3): a Cortex-A57's 0x10305106 (armvirt/cpu/debug.py implements them)
ID_AA64DFR0 = 0x6 | (1 << 8) | (5 << 12) | (3 << 20) | (1 << 28)
PMU_N = 6                  # PMU event counters (PMCR_EL0.N), besides the cycle counter: a Cortex-A57's
ID_AA64ISAR0 = (1 << 16) | (2 << 20)             # CRC32, LSE atomics
ID_AA64MMFR0 = 0x2 | (0x2 << 4) | (0x1 << 20)    # 40-bit PA, 16-bit ASID, 4K/16K/64K granules
ID_AA64MMFR1 = 0x2 << 20                          # PAN + AT S1E1RP/WP (PAN2); 8-bit VMID; no VHE
MIDR = 0x410FD070          # Arm, variant 0, architecture 0xF, part 0xD07 (Cortex-A57-like), r0p0
CTR = 0x8444C004           # IminLine/DminLine 64 B, PIPT I-cache, ERG/CWG 64 B
DCZID_BS = 4               # DC ZVA block: 2**4 words = 64 bytes
CLIDR = 0x0A200023         # L1 I+D, L2 unified; LoUIS 1, LoC 2
PA_BITS = 40               # ID_AA64MMFR0.PARange = 0b0010


def _build() -> list[SysReg]:
    R = SysReg
    regs: list[SysReg] = [
        # PSTATE access (C5.2 "Special-purpose registers")
        R("NZCV", 3, 3, 4, 2, 0, el0=EL0_RW, kind=KIND_SPECIAL, flags=SRF_NOSLOT),
        R("DAIF", 3, 3, 4, 2, 1, el0=EL0_UMA, kind=KIND_SPECIAL, flags=SRF_NOSLOT | SRF_ATTN),
        R("SPSel", 3, 0, 4, 2, 0, kind=KIND_SPECIAL, flags=SRF_NOSLOT),
        R("CurrentEL", 3, 0, 4, 2, 2, access=ACC_R, kind=KIND_SPECIAL, flags=SRF_NOSLOT),
        R("PAN", 3, 0, 4, 2, 3, kind=KIND_SPECIAL, flags=SRF_NOSLOT),
        R("FPCR", 3, 3, 4, 4, 0, el0=EL0_FP, kind=KIND_SPECIAL, wmask=0x07FF9F00),
        R("FPSR", 3, 3, 4, 4, 1, el0=EL0_FP, kind=KIND_SPECIAL, wmask=0xF800009F),
        R("SP_EL0", 3, 0, 4, 1, 0, kind=KIND_SPECIAL),
        R("SP_EL1", 3, 4, 4, 1, 0, kind=KIND_SPECIAL),
        R("SP_EL2", 3, 6, 4, 1, 0, kind=KIND_SPECIAL),  # EL3-only encoding; slot banks EL2's SP
        R("SPSR_EL1", 3, 0, 4, 0, 0),
        R("ELR_EL1", 3, 0, 4, 0, 1),
        R("SPSR_EL2", 3, 4, 4, 0, 0),
        R("ELR_EL2", 3, 4, 4, 0, 1),
        # AArch32 banked SPSRs: RES0 because EL1 does not implement AArch32
        R("SPSR_irq", 3, 4, 4, 3, 0, kind=KIND_CONST, wmask=0),
        R("SPSR_abt", 3, 4, 4, 3, 1, kind=KIND_CONST, wmask=0),
        R("SPSR_und", 3, 4, 4, 3, 2, kind=KIND_CONST, wmask=0),
        R("SPSR_fiq", 3, 4, 4, 3, 3, kind=KIND_CONST, wmask=0),
        # Identification (D19.2)
        R("MIDR_EL1", 3, 0, 0, 0, 0, reset=MIDR, access=ACC_R, kind=KIND_SPECIAL),
        R("MPIDR_EL1", 3, 0, 0, 0, 5, access=ACC_R, kind=KIND_SPECIAL),
        R("REVIDR_EL1", 3, 0, 0, 0, 6, access=ACC_R, kind=KIND_CONST, traps=TRAP_TID1),
        R("AIDR_EL1", 3, 1, 0, 0, 7, access=ACC_R, kind=KIND_CONST, traps=TRAP_TID1),
        R("CTR_EL0", 3, 3, 0, 0, 1, reset=CTR, access=ACC_R, el0=EL0_UCT, kind=KIND_CONST,
          traps=TRAP_TID2),
        R("DCZID_EL0", 3, 3, 0, 0, 7, access=ACC_R, el0=EL0_RW, kind=KIND_SPECIAL),
        R("CCSIDR_EL1", 3, 1, 0, 0, 0, access=ACC_R, kind=KIND_SPECIAL, traps=TRAP_TID2),
        R("CLIDR_EL1", 3, 1, 0, 0, 1, reset=CLIDR, access=ACC_R, kind=KIND_CONST,
          traps=TRAP_TID2),
        R("CSSELR_EL1", 3, 2, 0, 0, 0, wmask=0xF, traps=TRAP_TID2),
        R("VPIDR_EL2", 3, 4, 0, 0, 0, reset=MIDR),
        R("VMPIDR_EL2", 3, 4, 0, 0, 5),  # reset per PE to its MPIDR
        R("ID_AA64PFR0_EL1", 3, 0, 0, 4, 0, reset=ID_AA64PFR0),
        R("ID_AA64PFR1_EL1", 3, 0, 0, 4, 1),
        R("ID_AA64DFR0_EL1", 3, 0, 0, 5, 0, reset=ID_AA64DFR0),
        R("ID_AA64DFR1_EL1", 3, 0, 0, 5, 1),
        R("ID_AA64AFR0_EL1", 3, 0, 0, 5, 4),
        R("ID_AA64AFR1_EL1", 3, 0, 0, 5, 5),
        R("ID_AA64ISAR0_EL1", 3, 0, 0, 6, 0, reset=ID_AA64ISAR0),
        R("ID_AA64ISAR1_EL1", 3, 0, 0, 6, 1),
        R("ID_AA64MMFR0_EL1", 3, 0, 0, 7, 0, reset=ID_AA64MMFR0),
        R("ID_AA64MMFR1_EL1", 3, 0, 0, 7, 1, reset=ID_AA64MMFR1),
        R("ID_AA64MMFR2_EL1", 3, 0, 0, 7, 2),
        # System control (D19.2)
        R("SCTLR_EL1", 3, 0, 1, 0, 0, reset=RES1_SCTLR_EL1 | 0x0000_0800,
          traps=TRAP_TVM_RW, flags=SRF_REGIME, wmask=_s64(~RES1_SCTLR_EL1 & 0xFFFFFFFF)),
        R("ACTLR_EL1", 3, 0, 1, 0, 1, traps=TRAP_TACR),
        R("CPACR_EL1", 3, 0, 1, 0, 2, traps=TRAP_TCPAC, wmask=0x3 << 20),
        R("SCTLR_EL2", 3, 4, 1, 0, 0, reset=RES1_SCTLR_EL2, flags=SRF_REGIME,
          wmask=_s64(~RES1_SCTLR_EL2 & 0xFFFFFFFF)),
        R("ACTLR_EL2", 3, 4, 1, 0, 1),
        R("HCR_EL2", 3, 4, 1, 1, 0, reset=HCR_RW, flags=SRF_REGIME | SRF_ATTN,
          wmask=_s64(((1 << 34) - 1) & ~HCR_RW & ~(1 << 30))),  # RW RAO (no AArch32 EL1)
        # MDCR_EL2 also shares the PMU's counters with EL2 (HPMN, HPME): armvirt.devices.pmu
        R("MDCR_EL2", 3, 4, 1, 1, 1, reset=PMU_N, kind=KIND_PMU, wmask=0xFFFFF),
        R("CPTR_EL2", 3, 4, 1, 1, 2, reset=RES1_CPTR_EL2,
          wmask=(1 << 31) | (1 << 20) | (1 << 10)),  # TCPAC, TTA, TFP
        R("HSTR_EL2", 3, 4, 1, 1, 3, wmask=0xFFFF),
        R("HACR_EL2", 3, 4, 1, 1, 7),
        # Memory management (D19.2; the MMU reads these)
        R("TTBR0_EL1", 3, 0, 2, 0, 0, traps=TRAP_TVM_RW, flags=SRF_REGIME),
        R("TTBR1_EL1", 3, 0, 2, 0, 1, traps=TRAP_TVM_RW, flags=SRF_REGIME),
        R("TCR_EL1", 3, 0, 2, 0, 2, traps=TRAP_TVM_RW, flags=SRF_REGIME,
          wmask=0x7F_FFFF_FFBF),
        R("TTBR0_EL2", 3, 4, 2, 0, 0, flags=SRF_REGIME),
        R("TCR_EL2", 3, 4, 2, 0, 2, reset=RES1_TCR_EL2, flags=SRF_REGIME,
          wmask=_s64(0xFFFFFFFF & ~RES1_TCR_EL2)),
        R("VTTBR_EL2", 3, 4, 2, 1, 0, flags=SRF_REGIME),
        R("VTCR_EL2", 3, 4, 2, 1, 2, reset=RES1_VTCR_EL2, flags=SRF_REGIME,
          wmask=0x7FFFFFFF),
        R("AFSR0_EL1", 3, 0, 5, 1, 0, traps=TRAP_TVM_RW),
        R("AFSR1_EL1", 3, 0, 5, 1, 1, traps=TRAP_TVM_RW),
        R("ESR_EL1", 3, 0, 5, 2, 0, traps=TRAP_TVM_RW, wmask=0xFFFFFFFF),
        R("AFSR0_EL2", 3, 4, 5, 1, 0),
        R("AFSR1_EL2", 3, 4, 5, 1, 1),
        R("ESR_EL2", 3, 4, 5, 2, 0, wmask=0xFFFFFFFF),
        R("FAR_EL1", 3, 0, 6, 0, 0, traps=TRAP_TVM_RW),
        R("FAR_EL2", 3, 4, 6, 0, 0),
        R("HPFAR_EL2", 3, 4, 6, 0, 4, wmask=0xFFFFFFFFF0),
        R("PAR_EL1", 3, 0, 7, 4, 0),
        R("MAIR_EL1", 3, 0, 10, 2, 0, traps=TRAP_TVM_RW),
        R("AMAIR_EL1", 3, 0, 10, 3, 0, traps=TRAP_TVM_RW),
        R("MAIR_EL2", 3, 4, 10, 2, 0),
        R("AMAIR_EL2", 3, 4, 10, 3, 0),
        R("CONTEXTIDR_EL1", 3, 0, 13, 0, 1, traps=TRAP_TVM_RW, wmask=0xFFFFFFFF),
        # Exceptions and threads
        R("VBAR_EL1", 3, 0, 12, 0, 0, wmask=_s64(0xFFFFFFFFFFFFF800)),
        R("VBAR_EL2", 3, 4, 12, 0, 0, wmask=_s64(0xFFFFFFFFFFFFF800)),
        R("RVBAR_EL2", 3, 4, 12, 0, 1, access=ACC_R, kind=KIND_CONST),
        R("ISR_EL1", 3, 0, 12, 1, 0, access=ACC_R, kind=KIND_SPECIAL, flags=SRF_NOSLOT),
        R("TPIDR_EL0", 3, 3, 13, 0, 2, el0=EL0_RW),
        R("TPIDRRO_EL0", 3, 3, 13, 0, 3, el0=EL0_RO),
        R("TPIDR_EL1", 3, 0, 13, 0, 4),
        R("TPIDR_EL2", 3, 4, 13, 0, 2),
        # Generic timer: the counter and the controls (the timers themselves: armvirt.timer)
        R("CNTFRQ_EL0", 3, 3, 14, 0, 0, el0=EL0_CNTFRQ, kind=KIND_SPECIAL, wmask=0xFFFFFFFF),
        R("CNTPCT_EL0", 3, 3, 14, 0, 1, access=ACC_R, el0=EL0_CNTPCT, kind=KIND_SPECIAL,
          flags=SRF_NOSLOT),
        R("CNTVCT_EL0", 3, 3, 14, 0, 2, access=ACC_R, el0=EL0_CNTVCT, kind=KIND_SPECIAL,
          flags=SRF_NOSLOT),
        R("CNTKCTL_EL1", 3, 0, 14, 1, 0, wmask=0x3FF),
        R("CNTHCTL_EL2", 3, 4, 14, 1, 0, reset=0x3, wmask=0xFF),
        R("CNTVOFF_EL2", 3, 4, 14, 0, 3, kind=KIND_TIMER, flags=SRF_ATTN),
        # Debug (D19.3). Self-hosted debug: armvirt/cpu/debug.py. Every MSR to a register of
        # the TDA/TDOSA groups recomputes the PE's armed debug features (debug_rearm).
        # MDSCR_EL1: SS, ERR, TDCC, KDE, HDE, MDE, RAZ/WI, TDA, INTdis, TXU, RXO, TXfull, RXfull.
        R("MDSCR_EL1", 2, 0, 0, 2, 2, traps=TRAP_TDA, wmask=0xE000_F03F),
        R("MDCCINT_EL1", 2, 0, 0, 2, 0, traps=TRAP_TDA, wmask=(1 << 29) | (1 << 30)),
        R("MDCCSR_EL0", 2, 3, 0, 1, 0, access=ACC_R, kind=KIND_CONST, traps=TRAP_TDA),
        R("MDRAR_EL1", 2, 0, 1, 0, 0, access=ACC_R, kind=KIND_CONST, traps=TRAP_TDRA),
        R("OSLAR_EL1", 2, 0, 1, 0, 4, access=ACC_W, kind=KIND_SPECIAL, traps=TRAP_TDOSA,
          flags=SRF_NOSLOT),
        R("OSLSR_EL1", 2, 0, 1, 1, 4, reset=0x8 | 0x2, access=ACC_R, kind=KIND_SPECIAL,
          traps=TRAP_TDOSA),  # OSLM = 0b10 (OS lock implemented), OSLK reset 1
        R("OSDLR_EL1", 2, 0, 1, 3, 4, traps=TRAP_TDOSA, wmask=1),
        R("DBGPRCR_EL1", 2, 0, 1, 4, 4, traps=TRAP_TDOSA, wmask=1),
        R("DBGCLAIMSET_EL1", 2, 0, 7, 8, 6, kind=KIND_SPECIAL, traps=TRAP_TDA),
        R("DBGCLAIMCLR_EL1", 2, 0, 7, 9, 6, kind=KIND_SPECIAL, traps=TRAP_TDA,
          flags=SRF_NOSLOT),
        R("DBGAUTHSTATUS_EL1", 2, 0, 7, 14, 6, reset=0xAA, access=ACC_R, kind=KIND_CONST,
          traps=TRAP_TDOSA),
    ]
    # DBGBCR: E, PMC, BAS, HMC, SSC, LBN, BT. DBGWCR: E, PAC, LSC, BAS, HMC, SSC, LBN, WT, MASK.
    # Listed as BVRn, BCRn pairs (then WVRn, WCRn): debug.py indexes them by slot.
    for n in range(((ID_AA64DFR0 >> 12) & 0xF) + 1):
        regs += [
            R(f"DBGBVR{n}_EL1", 2, 0, 0, n, 4, traps=TRAP_TDA),
            R(f"DBGBCR{n}_EL1", 2, 0, 0, n, 5, traps=TRAP_TDA, wmask=0x00FF_E1E7),
        ]
    for n in range(((ID_AA64DFR0 >> 20) & 0xF) + 1):
        regs += [
            R(f"DBGWVR{n}_EL1", 2, 0, 0, n, 6, traps=TRAP_TDA, wmask=~3),
            R(f"DBGWCR{n}_EL1", 2, 0, 0, n, 7, traps=TRAP_TDA, wmask=0x1F1F_FFFF),
        ]
    regs += _gic_cpu_interface()
    regs += _generic_timers()
    regs += _performance_monitors()
    # The rest of the ID register space (op0=3, op1=0, CRn=0, CRm=1..7) reads as zero: the Arm ARM
    # reserves it as RAZ so that software can probe future ID registers (D19.2, "ID registers").
    # The AArch32 ID registers (ID_PFR0_EL1 ... MVFR2_EL1) live here too and read 0 because no
    # EL implements AArch32.
    named = {r.encoding for r in regs}
    aarch32_names = {
        (1, 0): "ID_PFR0_EL1", (1, 1): "ID_PFR1_EL1", (1, 2): "ID_DFR0_EL1",
        (1, 3): "ID_AFR0_EL1", (1, 4): "ID_MMFR0_EL1", (1, 5): "ID_MMFR1_EL1",
        (1, 6): "ID_MMFR2_EL1", (1, 7): "ID_MMFR3_EL1", (2, 0): "ID_ISAR0_EL1",
        (2, 1): "ID_ISAR1_EL1", (2, 2): "ID_ISAR2_EL1", (2, 3): "ID_ISAR3_EL1",
        (2, 4): "ID_ISAR4_EL1", (2, 5): "ID_ISAR5_EL1", (2, 6): "ID_MMFR4_EL1",
        (3, 0): "MVFR0_EL1", (3, 1): "MVFR1_EL1", (3, 2): "MVFR2_EL1",
    }
    out = []
    for r in regs:
        if r.op0 == 3 and r.op1 == 0 and r.crn == 0 and 1 <= r.crm <= 7:
            r = SysReg(**{**r.__dict__, "access": ACC_R, "kind": KIND_CONST,
                          "traps": r.traps | TRAP_TID3})
        out.append(r)
    for crm in range(1, 8):
        for op2 in range(8):
            enc = (3 << 14) | (crm << 3) | op2
            if enc in named:
                continue
            name = aarch32_names.get((crm, op2), f"S3_0_C0_C{crm}_{op2}")
            out.append(SysReg(name, 3, 0, 0, crm, op2, access=ACC_R, kind=KIND_CONST,
                              traps=TRAP_TID3, flags=SRF_NOSLOT))
    return out


# GICv3 CPU interface parameters (armvirt.devices.gic), those of QEMU's Cortex-A57 model: 5 bits
# of priority and of preemption in both the physical and the virtual interface.
GIC_PRI_BITS = 5
ICC_CTLR_RESET = (1 << 15) | (1 << 11) | ((GIC_PRI_BITS - 1) << 8)   # A3V, IDbits 24, PRIbits
ICC_SRE_EL1_VALUE = 0x7     # SRE, DFB, DIB: RAO/WI (no legacy interface, no bypass)
ICC_SRE_EL2_VALUE = 0xF     # SRE, DFB, DIB, Enable: RAO/WI
ICC_BPR0_MIN = 7 - GIC_PRI_BITS
ICC_BPR1_MIN = ICC_BPR0_MIN + 1
GIC_NUM_LRS = 4
ICH_VMCR_RESET = (1 << 3) | (ICC_BPR1_MIN << 18) | (ICC_BPR0_MIN << 21)   # VFIQEn, VBPR1, VBPR0


def _gic_cpu_interface() -> list[SysReg]:
    """The GICv3 CPU interface (IHI 0069 chapter 12): ICC_* at EL1 and EL2. At EL1 with
    HCR_EL2.IMO/FMO set the same encodings reach the virtual interface (ICV_*), so every
    register with behaviour is KIND_GIC and armvirt.devices.gic_sysregs decides."""
    R = SysReg
    dev, nos = KIND_GIC, SRF_NOSLOT | SRF_ATTN
    return [
        R("ICC_PMR_EL1", 3, 0, 4, 6, 0, kind=dev, flags=SRF_ATTN),
        R("ICC_IAR0_EL1", 3, 0, 12, 8, 0, access=ACC_R, kind=dev, flags=nos),
        R("ICC_EOIR0_EL1", 3, 0, 12, 8, 1, access=ACC_W, kind=dev, flags=nos),
        R("ICC_HPPIR0_EL1", 3, 0, 12, 8, 2, access=ACC_R, kind=dev, flags=nos),
        R("ICC_BPR0_EL1", 3, 0, 12, 8, 3, reset=ICC_BPR0_MIN, kind=dev, flags=SRF_ATTN),
        R("ICC_AP0R0_EL1", 3, 0, 12, 8, 4, kind=dev, flags=SRF_ATTN),
        R("ICC_AP1R0_EL1", 3, 0, 12, 9, 0, kind=dev, flags=SRF_ATTN),
        R("ICC_DIR_EL1", 3, 0, 12, 11, 1, access=ACC_W, kind=dev, flags=nos),
        R("ICC_RPR_EL1", 3, 0, 12, 11, 3, access=ACC_R, kind=dev, flags=nos),
        R("ICC_SGI1R_EL1", 3, 0, 12, 11, 5, access=ACC_W, kind=dev, flags=nos),
        R("ICC_ASGI1R_EL1", 3, 0, 12, 11, 6, access=ACC_W, kind=dev, flags=nos),
        R("ICC_SGI0R_EL1", 3, 0, 12, 11, 7, access=ACC_W, kind=dev, flags=nos),
        R("ICC_IAR1_EL1", 3, 0, 12, 12, 0, access=ACC_R, kind=dev, flags=nos),
        R("ICC_EOIR1_EL1", 3, 0, 12, 12, 1, access=ACC_W, kind=dev, flags=nos),
        R("ICC_HPPIR1_EL1", 3, 0, 12, 12, 2, access=ACC_R, kind=dev, flags=nos),
        R("ICC_BPR1_EL1", 3, 0, 12, 12, 3, reset=ICC_BPR1_MIN, kind=dev, flags=SRF_ATTN),
        R("ICC_CTLR_EL1", 3, 0, 12, 12, 4, reset=ICC_CTLR_RESET, kind=dev, flags=SRF_ATTN),
        R("ICC_SRE_EL1", 3, 0, 12, 12, 5, reset=ICC_SRE_EL1_VALUE, kind=KIND_CONST),
        R("ICC_IGRPEN0_EL1", 3, 0, 12, 12, 6, kind=dev, flags=SRF_ATTN),
        R("ICC_IGRPEN1_EL1", 3, 0, 12, 12, 7, kind=dev, flags=SRF_ATTN),
        R("ICC_SRE_EL2", 3, 4, 12, 9, 5, reset=ICC_SRE_EL2_VALUE, kind=KIND_CONST),
        # Virtualization (IHI 0069 12.4): the list registers must stay consecutive
        R("ICH_AP0R0_EL2", 3, 4, 12, 8, 0, kind=dev, flags=SRF_ATTN),
        R("ICH_AP1R0_EL2", 3, 4, 12, 9, 0, kind=dev, flags=SRF_ATTN),
        R("ICH_HCR_EL2", 3, 4, 12, 11, 0, kind=dev, flags=SRF_ATTN),
        R("ICH_VTR_EL2", 3, 4, 12, 11, 1, access=ACC_R, kind=dev, flags=SRF_NOSLOT),
        R("ICH_MISR_EL2", 3, 4, 12, 11, 2, access=ACC_R, kind=dev, flags=SRF_NOSLOT),
        R("ICH_EISR_EL2", 3, 4, 12, 11, 3, access=ACC_R, kind=dev, flags=SRF_NOSLOT),
        R("ICH_ELRSR_EL2", 3, 4, 12, 11, 5, access=ACC_R, kind=dev, flags=SRF_NOSLOT),
        R("ICH_VMCR_EL2", 3, 4, 12, 11, 7, reset=ICH_VMCR_RESET, kind=dev, flags=SRF_ATTN),
    ] + [R(f"ICH_LR{n}_EL2", 3, 4, 12, 12, n, kind=dev, flags=SRF_ATTN)
         for n in range(GIC_NUM_LRS)]


def _generic_timers() -> list[SysReg]:
    """The EL1 physical, EL1 virtual and EL2 physical timers (Arm ARM D11.2, D19.11):
    CTL and CVAL are stored, TVAL is computed from CVAL and the count (armvirt.devices.timer).
    EL0 reaches CNTP_* with CNTKCTL_EL1.EL0PTEN and CNTV_* with EL0VTEN; EL0/EL1 accesses to
    CNTP_* trap to EL2 while CNTHCTL_EL2.EL1PCEN = 0."""
    R = SysReg
    t = KIND_TIMER
    return [
        R("CNTP_TVAL_EL0", 3, 3, 14, 2, 0, el0=EL0_CNTP, traps=TRAP_CNTP, kind=t,
          flags=SRF_NOSLOT | SRF_ATTN),
        R("CNTP_CTL_EL0", 3, 3, 14, 2, 1, el0=EL0_CNTP, traps=TRAP_CNTP, kind=t,
          flags=SRF_ATTN),
        R("CNTP_CVAL_EL0", 3, 3, 14, 2, 2, el0=EL0_CNTP, traps=TRAP_CNTP, kind=t,
          flags=SRF_ATTN),
        R("CNTV_TVAL_EL0", 3, 3, 14, 3, 0, el0=EL0_CNTV, kind=t, flags=SRF_NOSLOT | SRF_ATTN),
        R("CNTV_CTL_EL0", 3, 3, 14, 3, 1, el0=EL0_CNTV, kind=t, flags=SRF_ATTN),
        R("CNTV_CVAL_EL0", 3, 3, 14, 3, 2, el0=EL0_CNTV, kind=t, flags=SRF_ATTN),
        R("CNTHP_TVAL_EL2", 3, 4, 14, 2, 0, kind=t, flags=SRF_NOSLOT | SRF_ATTN),
        R("CNTHP_CTL_EL2", 3, 4, 14, 2, 1, kind=t, flags=SRF_ATTN),
        R("CNTHP_CVAL_EL2", 3, 4, 14, 2, 2, kind=t, flags=SRF_ATTN),
    ]


PMCR_IDENT = 0x41 << 24         # PMCR_EL0.IMP = Arm, IDCODE 0


def _performance_monitors() -> list[SysReg]:
    """PMUv3 (Arm ARM D19.9): the cycle counter and PMU_N event counters, armvirt.devices.pmu.
    Every register is trapped by MDCR_EL2.TPM, PMCR_EL0 also by TPMCR; EL0 reaches them as
    PMUSERENR_EL0 allows. The event counters' registers must stay consecutive."""
    R = SysReg
    p = KIND_PMU
    tpm = TRAP_TPM
    nos = SRF_NOSLOT
    return [
        R("PMCR_EL0", 3, 3, 9, 12, 0, el0=EL0_PMU, traps=tpm | TRAP_TPMCR, kind=p),
        R("PMCNTENSET_EL0", 3, 3, 9, 12, 1, el0=EL0_PMU, traps=tpm, kind=p),
        R("PMCNTENCLR_EL0", 3, 3, 9, 12, 2, el0=EL0_PMU, traps=tpm, kind=p, flags=nos),
        R("PMOVSCLR_EL0", 3, 3, 9, 12, 3, el0=EL0_PMU, traps=tpm, kind=p, flags=nos),
        R("PMSWINC_EL0", 3, 3, 9, 12, 4, access=ACC_W, el0=EL0_PMU_SW, traps=tpm, kind=p,
          flags=nos),
        R("PMSELR_EL0", 3, 3, 9, 12, 5, el0=EL0_PMU_SEL, traps=tpm, kind=p),
        R("PMCEID0_EL0", 3, 3, 9, 12, 6, access=ACC_R, el0=EL0_PMU, traps=tpm, kind=p,
          flags=nos),
        R("PMCEID1_EL0", 3, 3, 9, 12, 7, access=ACC_R, el0=EL0_PMU, traps=tpm, kind=p,
          flags=nos),
        R("PMCCNTR_EL0", 3, 3, 9, 13, 0, el0=EL0_PMU_CR, traps=tpm, kind=p),
        R("PMXEVTYPER_EL0", 3, 3, 9, 13, 1, el0=EL0_PMU, traps=tpm, kind=p, flags=nos),
        R("PMXEVCNTR_EL0", 3, 3, 9, 13, 2, el0=EL0_PMU_ER, traps=tpm, kind=p, flags=nos),
        R("PMUSERENR_EL0", 3, 3, 9, 14, 0, el0=EL0_RO, traps=tpm, kind=p),
        R("PMINTENSET_EL1", 3, 0, 9, 14, 1, traps=tpm, kind=p),
        R("PMINTENCLR_EL1", 3, 0, 9, 14, 2, traps=tpm, kind=p, flags=nos),
        R("PMOVSSET_EL0", 3, 3, 9, 14, 3, el0=EL0_PMU, traps=tpm, kind=p),
        R("PMCCFILTR_EL0", 3, 3, 14, 15, 7, el0=EL0_PMU, traps=tpm, kind=p),
    ] + [R(f"PMEVCNTR{n}_EL0", 3, 3, 14, 8 + (n >> 3), n & 7, el0=EL0_PMU_ER, traps=tpm,
           kind=p) for n in range(PMU_N)] \
      + [R(f"PMEVTYPER{n}_EL0", 3, 3, 14, 12 + (n >> 3), n & 7, el0=EL0_PMU, traps=tpm,
           kind=p) for n in range(PMU_N)]


SYSREGS: tuple[SysReg, ...] = tuple(_build())
BY_NAME: dict[str, SysReg] = {r.name: r for r in SYSREGS}


def _check() -> None:
    seen: dict[int, str] = {}
    for r in SYSREGS:
        if r.encoding in seen:
            raise ValueError(f"{r.name} and {seen[r.encoding]} share an encoding")
        seen[r.encoding] = r.name


_check()
