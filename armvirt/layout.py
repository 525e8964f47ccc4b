"""Where every piece of machine state lives: the one source of truth for array layouts.

The jitted core works on plain numpy arrays (no jitclass: it defeats ``cache=True``). This
module names their slots so the core, the Python facade, the debugger and the tests all read the
same offsets.

* ``cpus``   int64[npe, CPU_SIZE] — one row per PE, the row ``c`` every handler receives.
  General registers, PSTATE fields, FP/SIMD registers, internal bookkeeping, then the system
  registers (slots generated from ``armvirt/cpu/sysreg_table.py`` into ``armvirt/cpu/_sysregs.py``).
* ``S``      int64 — machine-wide state: first the ``mach`` slots (the exit record,
  configuration, in-core device registers), then fixed regions (``S_*``): the system-register
  tables, UNDEFINED counters, the trace ring, breakpoints, the UART buffers.
* RAM as bytes and as 64-bit words, and the decode cache.
* ``M``      the tuple of those arrays, indexed by the ``M_*`` constants below; handlers pass
  it along untouched.
"""
from armvirt.cpu import _sysregs as _sr
from armvirt.cpu.sysreg_table import SYSREGS as _SYSREGS
from armvirt.cpu.sysreg_table import SYSREG_BASE
from armvirt.isa._decoder import NUM_OPS
from armvirt.memmap import MAX_PES as _MAX_PES

NUM_SYSREGS = len(_SYSREGS)

# ---------------------------------------------------------------------------------------------
# Per-PE row
# ---------------------------------------------------------------------------------------------
# X0..X30 live at 0..30. Slot 31 is always zero so that "register 31 = XZR" reads need no test;
# handlers write results unconditionally and then restore c[XZR] = 0 (cheaper than a branch).
XZR = 31
# The *current* stack pointer. It is banked into SP_EL0/SP_EL1/SP_EL2 (system-register slots)
# whenever PSTATE.EL or PSTATE.SP changes, so "register 31 = SP" reads are one load.
SP = 32
PC = 33
# PSTATE, one field per slot (AArch64.PSTATE in the Arm ARM's shared pseudocode).
NZCV = 34        # 4 bits: N=8, Z=4, C=2, V=1 (PSTATE.{N,Z,C,V})
EL = 35          # PSTATE.EL, 0..2 (no EL3)
SPSEL = 36       # PSTATE.SP
DAIF = 37        # 4 bits: D=8, A=4, I=2, F=1
PSTATE_SS = 38   # software step
PSTATE_IL = 39   # illegal execution state
PSTATE_PAN = 40  # Armv8.1 privileged access never
# Bookkeeping that is not architectural state.
CYCLES = 41        # emulated cycles under the cost profile (armvirt/costs.py, armvirt/profiles/)
INSTRET = 42       # instructions retired
EXCL_VALID = 43    # local exclusive monitor: Exclusive Access state
EXCL_ADDR = 44     # physical address of the marked granule
EXCL_SIZE = 45     # size in bytes of the marked access
CODE_VPAGE = 46    # virtual page (va >> 12) whose translation is cached for fetch; CODE_VPAGE_NONE = none
CODE_DELTA = 47    # pa - va for CODE_VPAGE (valid while CODE_VPAGE matches)
ATTN = 48          # non-zero: the run loop must look at this PE before the next instruction
POWER = 49         # POWER_* below
PE_INDEX = 50      # this PE's index in ``cpus``
MMIO_SEQ = 51      # number of completed Python-MMIO accesses replayed within the current insn
XLAT_INFO = 52     # info word of the last translation (armvirt/cpu/mmu.py I_*): memory type
EVENT_REG = 53     # the WFE event register
# One-page data translation caches, the data-side twin of CODE_VPAGE: the last page a load
# (R) or a store (W) went to RAM through, with pa - RAM_BASE - va. Only naturally aligned,
# privileged-as-usual accesses use them; everything else takes the full path.
DATA_RPAGE = 54
DATA_RDELTA = 55
DATA_WPAGE = 56
DATA_WDELTA = 57
# Interrupts and time (armvirt/devices/gic.py, timer.py, pmu.py; ARCHITECTURE.md "Time").
IRQ_LINES = 58     # LINE_* bits: the interrupt signals the GIC drives into this PE
DEADLINE = 59      # CYCLES value of the next timer/PMU event of this PE (NEVER: none)
RESCHED = 60       # 1: end the current slice at once (a deadline moved); the loop re-plans it
PMU_LAST = 61      # CYCLES when the PMU's counters were last brought up to date (pmu_counter.py)
SLICE_LEFT = 62    # instructions left in a slice the budget cut short (armvirt/engine.py)
# Self-hosted debug (armvirt/cpu/debug.py): DBG_BP/WP/SS say a breakpoint, a watchpoint or
# MDSCR_EL1.SS is armed (only then do fetches and data accesses leave their fast paths);
# bits DBG_MARK_SHIFT.. hold INSTRET + 1 of the instruction being stepped (0: none).
DBG = 63
DBG_BP = 1
DBG_WP = 2
DBG_SS = 4
DBG_EX = 8         # the instruction being stepped is a Load-Exclusive (Software Step ISS.EX)
DBG_MARK_SHIFT = 8
TICK_CYCLES = 64   # cycles per tick of the system counter under the cost profile (timer.py)
V_BASE = 65        # FP/SIMD V0..V31: V[n] low 64 bits at V_BASE + 2n, high 64 bits at +2n+1
assert SYSREG_BASE == V_BASE + 64
CPU_SIZE = SYSREG_BASE + _sr.NUM_SYSREG_SLOTS

# No cached code page. Not -1: that is pc >> 12 for the top 4 KiB of the address space.
CODE_VPAGE_NONE = 1 << 62

POWER_ON = 0
POWER_OFF = 1
POWER_WFI = 2       # asleep in WFI until an interrupt (or event)
POWER_WFE = 3

# IRQ_LINES bits: the GIC CPU interface's outputs to the PE (physical IRQ/FIQ; virtual IRQ/FIQ
# from the list registers). HCR_EL2.VI/VF/VSE are read from HCR_EL2 itself.
LINE_IRQ = 1
LINE_FIQ = 2
LINE_VIRQ = 4
LINE_VFIQ = 8
NEVER = 1 << 62    # a DEADLINE that never comes

# ---------------------------------------------------------------------------------------------
# Machine-wide row
# ---------------------------------------------------------------------------------------------
EXIT_CODE = 0      # EXIT_* below; set by the core, cleared by Python before resuming
EXIT_PE = 1        # PE that caused the exit
EXIT_ADDR = 2      # address (MMIO: physical address; breakpoint: pc)
EXIT_SIZE = 3      # access size in bytes
EXIT_WRITE = 4     # 1 for a store
EXIT_VALUE = 5     # store data / value supplied back by Python for a load
EXIT_AUX = 6       # extra detail (internal error code, immediate of HVC/SMC, ...)
NUM_PES = 7
CUR_PE = 8
PSCI_CONDUIT = 9   # CONDUIT_* below: which instruction the board's own PSCI service answers
TRACE_FLAGS = 10   # TRACE_* bits
TRACE_COUNT = 11   # events in the trace ring
# Python-device MMIO is done by replay (armvirt/cpu/memory.py): the k-th such access of an
# instruction exits; Python answers into MMIO_RESP[k]; the instruction runs again and consumes
# answers 0..MMIO_RESP_N-1 in order.
MMIO_RESP_N = 12
MMIO_RESP_ABORT = 13  # bit k set: access k ends in an external abort (no device there)
HOOK_COUNT = 14     # number of armed hooks (0: exception entries and returns never look)
MMIO_RESP = 40        # MMIO_RESP[0..MMIO_RESP_MAX-1]
MMIO_RESP_MAX = 8
BP_COUNT = 15       # number of armed breakpoints (0: the run loop never looks them up)
STEP_BREAK = 16     # pc of a breakpoint to step over once when resuming (-1: none)
RUN_DONE = 17       # steps the last call of engine.run executed
WP_COUNT = 18       # number of armed watchpoints (0: accesses never look them up)
WP_SUSPEND = 19     # 1: watchpoints are ignored (while Python completes a trapped access)
ONLY_PE = 33        # >= 0: run only this PE (a debugger stepping one PE); -1: all PEs
PMU_BR_PES = 34     # bit p: PE p counts BR_RETIRED at its current EL (0: branches never look)
# PL011 (in-core device, armvirt/devices/pl011.py)
UART_TX_COUNT = 20  # bytes waiting in the tx buffer for Python to drain
UART_CR = 21
UART_LCR_H = 22
UART_IBRD = 23
UART_FBRD = 24
UART_IMSC = 25
UART_RIS = 26
UART_IFLS = 27
UART_DMACR = 28
UART_RX_HEAD = 29   # rx ring read index
UART_RX_TAIL = 30   # rx ring write index
UART_ILPR = 31
# Memory (armvirt/cpu/memory.py). The RAM arrays of M hold RAM, then, when the board has flash,
# the two flash banks (FLASH_BANK_SIZE each) at offsets RAM_BYTES and RAM_BYTES + bank size.
RAM_BYTES = 48      # bytes of RAM (the arrays are longer when flash follows it)
FLASH_ROMD = 49     # bit b: flash bank b is in read-array mode, read and fetched in the core
#                     (QEMU's "romd" mode); otherwise, and for every write, the CFI device
#                     in Python answers (armvirt/pflash.py)
MACH_SIZE = 64

CONDUIT_NONE = 0
CONDUIT_HVC = 1
CONDUIT_SMC = 2

TRACE_EXC = 1      # record exception entries/returns in the trace ring

# ---------------------------------------------------------------------------------------------
# Exit codes (the core's counterpart of KVM_RUN's exit reasons)
# ---------------------------------------------------------------------------------------------
EXIT_NONE = 0
EXIT_BUDGET = 1        # the instruction budget ran out
EXIT_HALT = 2          # every PE is off (e.g. after PSCI SYSTEM_OFF handled in Python)
EXIT_BREAKPOINT = 3    # fetch from an address with a breakpoint
EXIT_MMIO = 4          # access to a device implemented in Python; the insn is replayed after
EXIT_PSCI = 5          # HVC/SMC on the board's PSCI conduit; Python answers in x0
EXIT_UART = 6          # the UART tx buffer is full: drain it
EXIT_TRACE = 7         # the trace ring is full: drain it
EXIT_INTERNAL = 8      # the core hit a state it cannot continue from (EXIT_AUX says which)
EXIT_IDLE = 9          # every running PE sleeps in WFI/WFE and nothing will wake it
EXIT_WATCHPOINT = 10
EXIT_STEP = 11         # single-step completed
EXIT_HOOK = 12         # a hook matched (EXIT_AUX: its index); the event has happened

EXIT_NAMES = {
    EXIT_NONE: "none", EXIT_BUDGET: "budget", EXIT_HALT: "halt", EXIT_BREAKPOINT: "breakpoint",
    EXIT_MMIO: "mmio", EXIT_PSCI: "psci", EXIT_UART: "uart", EXIT_TRACE: "trace",
    EXIT_INTERNAL: "internal", EXIT_IDLE: "idle", EXIT_WATCHPOINT: "watchpoint",
    EXIT_STEP: "step", EXIT_HOOK: "hook",
}

# ---------------------------------------------------------------------------------------------
# The machine tuple M
# ---------------------------------------------------------------------------------------------
# Few members, on purpose: Numba passes every array of a tuple as ~7 machine words, and a handler
# call that LLVM does not inline pays for all of them (13 arrays measured ~4x slower than 5).
M_MACH = 0     # int64 S: the machine-wide slots above, then the regions S_* below
M_CPUS = 1     # int64[npe, CPU_SIZE]
M_RAM8 = 2     # uint8 view of guest RAM at RAM_BASE (then the flash banks, RAM_BYTES)
M_RAM64 = 3    # int64 view of the same memory (aligned 64-bit accesses)
M_DCACHE = 4   # int64 per word of M_RAM8: (op << 32) | word once decoded; 0 = not decoded;
#                 negative = the same entry, negated, for a word with a breakpoint

UART_TX_CAP = 4096
UART_RX_CAP = 4096
TRACE_CAP = 4096
TRACE_WIDTH = 11
BP_CAP = 64
BP_WIDTH = 4
WP_CAP = 32
WP_WIDTH = 4        # start va, end va (exclusive), kind bits (WP_READ | WP_WRITE), EL mask
WP_READ = 1
WP_WRITE = 2
HOOK_CAP = 16
HOOK_WIDTH = 3      # kind (exceptions.TR_EXC_ENTRY/RETURN), EL mask, EC (-1 any, -2 interrupts)
# Software TLB (armvirt/cpu/mmu.py): per PE, TLB_ENTRIES direct-mapped entries of TLB_WIDTH.
TLB_ENTRIES = 1024
TLB_WIDTH = 6
TLB_PE_SIZE = TLB_ENTRIES * TLB_WIDTH
WALK_SIZE = 160     # the record of the last inspected walk (armvirt/cpu/mmu.py, WR_*)

# Columns of a system-register record in S_SR_INFO (see armvirt/cpu/sysreg_table.py)
SRI_SLOT = 0      # slot in the PE row, or -1 for registers without storage
SRI_ENC = 1       # op0:op1:CRn:CRm:op2 packed in 16 bits
SRI_ACCESS = 2    # ACC_* bits: readable / writable
SRI_MIN_EL = 3    # lowest EL that may access it (0 = EL0 subject to SRI_EL0_CTL)
SRI_EL0_CTL = 4   # EL0 access control rule id
SRI_TRAPS = 5     # TRAP_* bits of the EL2 traps that apply
SRI_KIND = 6      # KIND_*: how reads and writes are carried out
SRI_WMASK = 7     # writable bits (others keep their value)
SRI_FIXED = 8     # reset value (the value of a KIND_CONST register)
SRI_FLAGS = 9     # SRF_* behaviour flags
SRI_RCOST = 10    # extra cycles of a completed MRS under the cost profile (armvirt/costs.py)
SRI_WCOST = 11    # extra cycles of a completed MSR
SRI_SIZE = 12

# Regions of S after the machine-wide slots (all offsets are compile-time constants)
S_SR_INDEX = MACH_SIZE                             # 65536: encoding -> record, -1 unallocated
S_SR_INFO = S_SR_INDEX + (1 << 16)                 # NUM_SYSREGS x SRI_SIZE
S_UNIMP = S_SR_INFO + NUM_SYSREGS * SRI_SIZE       # NUM_OPS x 2: UNDEFINED count, first pc
S_TRACE = S_UNIMP + NUM_OPS * 2                    # TRACE_CAP x TRACE_WIDTH trace ring
S_BP = S_TRACE + TRACE_CAP * TRACE_WIDTH           # BP_CAP x BP_WIDTH: pa, va, el mask, vmid
S_WP = S_BP + BP_CAP * BP_WIDTH                    # WP_CAP x WP_WIDTH watchpoints
S_UART_TX = S_WP + WP_CAP * WP_WIDTH               # UART_TX_CAP bytes waiting to be drained
S_UART_RX = S_UART_TX + UART_TX_CAP                # UART_RX_CAP bytes of input ring
S_TLB = S_UART_RX + UART_RX_CAP                    # MAX_PES x TLB_PE_SIZE software TLBs
S_WALK = S_TLB + _MAX_PES * TLB_PE_SIZE            # WALK_SIZE: a recorded translation walk
S_MMU_STATS = S_WALK + WALK_SIZE                   # MAX_PES x 4: TLB hits, misses, walk reads
# Scheduler and machine time (armvirt/engine.py): SCHED_* slots of the S_SCHED region.
SCHED_ROUND_END = 0   # CYCLES at which the current round of quanta ends
SCHED_SIZE = 8
# GICv3 (armvirt/devices/gic.py): the distributor and one redistributor per PE.
GICD_REGION = 1024                                 # see armvirt/devices/gic.py for the layout
GICR_WIDTH = 64                                    # slots per redistributor
S_SCHED = S_MMU_STATS + _MAX_PES * 4               # SCHED_SIZE
S_GICD = S_SCHED + SCHED_SIZE                      # GICD_REGION: distributor state
S_GICR = S_GICD + GICD_REGION                      # MAX_PES x GICR_WIDTH: redistributors
PMU_WIDTH = 8                                      # per-PE PMU bookkeeping (devices/pmu_counter.py)
S_PMU = S_GICR + _MAX_PES * GICR_WIDTH             # MAX_PES x PMU_WIDTH
S_HOOKS = S_PMU + _MAX_PES * PMU_WIDTH             # HOOK_CAP x HOOK_WIDTH event hooks
# The cost profile (armvirt/costs.py fills these from a profile file; the core only reads them,
# so changing profile never recompiles). COST_*: extra cycles of an event, on top of the cost
# of the instruction that caused it; S_OPCOST: the cost of an instruction, per decoder op.
COST_EXC_ENTRY = 0      # taking an exception (on top of the instruction that caused it)
COST_EXC_RETURN = 1     # ERET's exception return
COST_BRANCH_TAKEN = 2   # a conditional branch that is taken (over one that is not)
COST_DESC_READ = 3      # each translation table descriptor read by a walk (a TLB miss)
COST_MMIO = 4           # an access that leaves the core for a device
COST_CACHE_MAINT = 5    # DC/IC by VA or set/way
COST_TLBI = 6           # a TLB maintenance instruction
COST_WFI_WAKE = 7       # waking from WFI
COST_SIZE = 16
S_COST = S_HOOKS + HOOK_CAP * HOOK_WIDTH           # COST_SIZE event costs
S_OPCOST = S_COST + COST_SIZE                      # NUM_OPS: cycles per instruction, by op
S_SIZE = S_OPCOST + NUM_OPS
