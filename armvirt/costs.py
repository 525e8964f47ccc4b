"""The cycle cost model: every emulated cycle count in armvirt comes from these numbers.

Time in armvirt is virtual and deterministic. Each retired instruction costs ``INSN`` cycles;
the events below add to that. The generic timer and PMCCNTR_EL0 derive from the cycle count, so
two runs of the same image with the same options give the same times. The figures are a simple
in-order model chosen to be easy to reason about in a classroom, not to mimic a given core;
change them here and every report (benchmarks, exit tables) follows.
"""

INSN = 1                 # base cost of any instruction
EXCEPTION_ENTRY = 10     # pipeline flush and vector fetch on taking an exception
EXCEPTION_RETURN = 10    # ERET
DIVIDE = 8               # extra for UDIV/SDIV (a multi-cycle iterative divider)
MULTIPLY_LONG = 2        # extra for the 64x64->128 high multiplies
BARRIER = 2              # extra for DSB/ISB
MMIO_ACCESS = 20         # extra for an access that leaves the core for a device

# The CPU clock and the system counter (CNTFRQ_EL0): the counter ticks once every
# CPU_HZ // COUNTER_HZ cycles. QEMU's virt board reports 62.5 MHz; so do we.
CPU_HZ = 1_000_000_000
COUNTER_HZ = 62_500_000
CYCLES_PER_TICK = CPU_HZ // COUNTER_HZ
