"""The board's PSCI service for bare runs (no EL2 firmware of ours): what EL3 firmware, or
QEMU's built-in PSCI emulation, does on real `virt` machines.

The core hands an HVC or SMC on the configured conduit to Python as an EXIT_PSCI; ``handle``
answers in X0 (function IDs and return codes: Arm DEN 0022, see
../shared/reference/platform.md) and may change PE power states or end the run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from armvirt import layout as L

if TYPE_CHECKING:  # pragma: no cover
    from armvirt.machine import Machine

PSCI_VERSION = 0x8400_0000
CPU_SUSPEND_32, CPU_SUSPEND_64 = 0x8400_0001, 0xC400_0001
CPU_OFF = 0x8400_0002
CPU_ON_32, CPU_ON_64 = 0x8400_0003, 0xC400_0003
AFFINITY_INFO_32, AFFINITY_INFO_64 = 0x8400_0004, 0xC400_0004
MIGRATE_INFO_TYPE = 0x8400_0006
SYSTEM_OFF = 0x8400_0008
SYSTEM_RESET = 0x8400_0009
PSCI_FEATURES = 0x8400_000A

SUCCESS = 0
NOT_SUPPORTED = -1
INVALID_PARAMETERS = -2
DENIED = -3
ALREADY_ON = -4
ON_PENDING = -5
INTERNAL_FAILURE = -6
NOT_PRESENT = -7
DISABLED = -8
INVALID_ADDRESS = -9

VERSION_1_1 = (1 << 16) | 1
MIGRATE_NOT_REQUIRED = 2   # MIGRATE_INFO_TYPE: no Trusted OS that needs migration

SUPPORTED = {PSCI_VERSION, CPU_SUSPEND_32, CPU_SUSPEND_64, CPU_OFF, CPU_ON_32, CPU_ON_64,
             AFFINITY_INFO_32, AFFINITY_INFO_64, MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET,
             PSCI_FEATURES}
NAMES = {PSCI_VERSION: "PSCI_VERSION", CPU_SUSPEND_32: "CPU_SUSPEND", CPU_SUSPEND_64:
         "CPU_SUSPEND", CPU_OFF: "CPU_OFF", CPU_ON_32: "CPU_ON", CPU_ON_64: "CPU_ON",
         AFFINITY_INFO_32: "AFFINITY_INFO", AFFINITY_INFO_64: "AFFINITY_INFO",
         MIGRATE_INFO_TYPE: "MIGRATE_INFO_TYPE", SYSTEM_OFF: "SYSTEM_OFF",
         SYSTEM_RESET: "SYSTEM_RESET", PSCI_FEATURES: "PSCI_FEATURES"}


def handle(m: "Machine", pe: int) -> str | None:
    """Carry out the PSCI call PE ``pe`` just made. Returns 'system_off' or 'system_reset'
    when the call ends the run, else None."""
    c = m.cpus[pe]
    fid = int(c[0]) & 0xFFFF_FFFF
    is32 = not (fid & 0x4000_0000)
    args = [int(c[i]) & (0xFFFF_FFFF if is32 else (1 << 64) - 1) for i in (1, 2, 3)]

    def ret(v: int) -> None:
        c[0] = v

    if fid == PSCI_VERSION:
        ret(VERSION_1_1)
    elif fid == PSCI_FEATURES:
        ret(SUCCESS if (args[0] & 0xFFFF_FFFF) in SUPPORTED else NOT_SUPPORTED)
    elif fid == MIGRATE_INFO_TYPE:
        ret(MIGRATE_NOT_REQUIRED)
    elif fid == SYSTEM_OFF:
        m.power_off_all()
        return "system_off"
    elif fid == SYSTEM_RESET:
        m.power_off_all()
        return "system_reset"
    elif fid == CPU_OFF:
        c[L.POWER] = L.POWER_OFF
    elif fid in (CPU_ON_32, CPU_ON_64):
        ret(_cpu_on(m, pe, args[0], args[1], args[2]))
    elif fid in (AFFINITY_INFO_32, AFFINITY_INFO_64):
        target, level = args[0], args[1]
        idx = m.pe_by_mpidr(target)
        if level != 0 or idx is None:
            ret(INVALID_PARAMETERS)
        else:
            ret(0 if m.cpus[idx][L.POWER] != L.POWER_OFF else 1)
    elif fid in (CPU_SUSPEND_32, CPU_SUSPEND_64):
        # Standby power states only: the PE waits for an interrupt like WFI and then returns
        # SUCCESS from the call (DEN 0022, 5.4 "CPU_SUSPEND").
        ret(SUCCESS)
        c[L.POWER] = L.POWER_WFI
    else:
        ret(NOT_SUPPORTED)
    return None


def _cpu_on(m: "Machine", caller: int, target_mpidr: int, entry: int, context: int) -> int:
    idx = m.pe_by_mpidr(target_mpidr)
    if idx is None:
        return INVALID_PARAMETERS
    if m.cpus[idx][L.POWER] != L.POWER_OFF:
        return ALREADY_ON
    if entry & 3:
        return INVALID_ADDRESS
    # The new PE starts in the highest EL provided to the software (PSCI: the highest EL
    # implemented and enabled on the caller; QEMU's reading for its "fake firmware": the
    # highest non-secure EL it gives the guest), i.e. the EL the board started PE 0 at: a
    # Linux booted at EL2 calls CPU_ON from EL1 (nVHE) and needs its secondaries at EL2 too.
    # MMU and caches off, x0 = context id, its clock at the caller's (one machine-wide time).
    el = max(int(m.cpus[caller][L.EL]), getattr(m, "boot_el", 1))
    m.reset_pe(idx)
    m.boot_pe(idx, entry, el=el, x0=context)
    m.cpus[idx][L.CYCLES] = m.cpus[caller][L.CYCLES]
    return SUCCESS
