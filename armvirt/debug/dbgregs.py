"""Self-hosted debug, PMU share and emulated physical timer state in words: what ``info dbg``
and ``vcpu`` print. Plain functions of register values, wherever those come from (a PE's
registers, or a vCPU's record in the hypervisor's memory: armvirt.hv.abi ``VCPU``).

Field layouts are the Arm ARM's (Armv8.0, AArch64): MDSCR_EL1 (SS 0, KDE 13, MDE 15),
OSLSR_EL1.OSLK (1), MDCR_EL2 (HPMN 4:0, HPME 7, TDE 8, TDA 9, TDOSA 10, TDRA 11),
DBGBCR<n>_EL1 (E 0, PMC 2:1, BAS 8:5, HMC 13, SSC 15:14, LBN 19:16, BT 23:20) and
DBGWCR<n>_EL1 (E 0, PAC 2:1, LSC 4:3, BAS 12:5, HMC 13, SSC 15:14, LBN 19:16, WT 20, MASK
28:24). Which ELs a breakpoint or watchpoint matches at follows AArch64.StateMatch as the core
implements it for this Non-secure PE without EL3 (armvirt/cpu/debug.py ``state_match``): HMC
selects EL2, PxC<0> EL1, PxC<1> EL0, SSC = 0b10 (Secure only) never matches.
"""
from __future__ import annotations

from typing import Any, Callable

from armvirt.cpu.debug import FIRST_CTX_CMP, NUM_BRPS, NUM_WRPS

M64 = (1 << 64) - 1

# DBGBCR<n>_EL1.BT, the context types (Armv8.0; the mismatch and VHE types are reserved here)
_BT_CONTEXT = {0b0010: "CONTEXTIDR_EL1 match", 0b0011: "CONTEXTIDR_EL1 match, linkable",
               0b1000: "VMID match", 0b1001: "VMID match, linkable",
               0b1010: "VMID + CONTEXTIDR_EL1 match",
               0b1011: "VMID + CONTEXTIDR_EL1 match, linkable"}
_LSC = {0: "reserved (never)", 1: "load", 2: "store", 3: "load/store"}


def _els(hmc: int, ssc: int, pxc: int) -> str:
    """The ELs a breakpoint/watchpoint matches at (AArch64.StateMatch, see the module doc)."""
    if ssc == 2:
        return "no EL (SSC Secure only)"
    els = [name for name, on in (("EL2", hmc), ("EL1", pxc & 1), ("EL0", pxc & 2)) if on]
    return ",".join(els) if els else "no EL"


def _link(lbn: int) -> str:
    ok = FIRST_CTX_CMP <= lbn < NUM_BRPS
    return f"linked to bp{lbn}" + ("" if ok else " (not context-aware: never matches)")


def bp_text(n: int, bcr: int, bvr: int) -> str:
    """Breakpoint ``n`` in words (AArch64.BreakpointValueMatch's reading of DBGBCR/DBGBVR)."""
    bt = (bcr >> 20) & 0xF
    els = _els((bcr >> 13) & 1, (bcr >> 14) & 3, (bcr >> 1) & 3)
    if bt in (0, 1):
        what = f"address 0x{bvr & ~3 & M64:x} BAS 0b{(bcr >> 5) & 0xF:04b}"
        if bt == 1:
            what += f", {_link((bcr >> 16) & 0xF)}"
    elif bt in _BT_CONTEXT:
        vmid, ctx = f"VMID {(bvr >> 32) & 0xFF}", f"CONTEXTIDR 0x{bvr & 0xFFFF_FFFF:x}"
        what = _BT_CONTEXT[bt] + ": " + {0b001: ctx, 0b100: vmid}.get(bt >> 1, vmid + " " + ctx)
        if n < FIRST_CTX_CMP:
            what += " (not context-aware: never matches)"
    else:
        what = f"reserved type 0b{bt:04b} (never matches)"
    return f"bp{n}: {what}, {els}  [DBGBCR{n} 0x{bcr:x} DBGBVR{n} 0x{bvr:x}]"


def wp_range(wcr: int, wvr: int) -> tuple[int, int] | None:
    """The bytes watchpoint (wcr, wvr) watches: [first, last], None when none (AArch64.
    WatchpointByteMatch: MASK 3..31 a 2^MASK block; else BAS's bytes of the doubleword, or
    of the word when DBGWVR<2> is set; a reserved MASK watches nothing here, as in the core)."""
    bas, mask = (wcr >> 5) & 0xFF, (wcr >> 24) & 0x1F
    if mask in (1, 2):
        return None
    if mask:
        base = wvr & ~((1 << mask) - 1) & M64
        return base, base + (1 << mask) - 1
    if wvr & 4:
        base, bas = wvr & ~3 & M64, bas & 0xF
    else:
        base = wvr & ~7 & M64
    if not bas:
        return None
    lo = (bas & -bas).bit_length() - 1
    return base + lo, base + bas.bit_length() - 1


def wp_text(n: int, wcr: int, wvr: int) -> str:
    """Watchpoint ``n`` in words (AArch64.WatchpointMatch)."""
    bas, mask = (wcr >> 5) & 0xFF, (wcr >> 24) & 0x1F
    r = wp_range(wcr, wvr)
    where = "nothing" if r is None else f"0x{r[0]:x}..0x{r[1]:x} ({r[1] - r[0] + 1} bytes)"
    sel = f"MASK {mask}" if mask else f"BAS 0b{bas:08b}"
    els = _els((wcr >> 13) & 1, (wcr >> 14) & 3, (wcr >> 1) & 3)
    link = f", {_link((wcr >> 16) & 0xF)}" if (wcr >> 20) & 1 else ""
    return (f"wp{n}: {_LSC[(wcr >> 3) & 3]} {where} {sel}, {els}{link}  "
            f"[DBGWCR{n} 0x{wcr:x} DBGWVR{n} 0x{wvr:x}]")


def mdscr_text(v: int) -> str:
    return (f"MDSCR_EL1 0x{v:x}: SS {v & 1} KDE {(v >> 13) & 1} MDE {(v >> 15) & 1}")


def mdcr_text(v: int) -> str:
    """MDCR_EL2's routing and trap bits, and the counters EL2 keeps (HPMN)."""
    return (f"MDCR_EL2 0x{v:x}: TDE {(v >> 8) & 1} TDA {(v >> 9) & 1} TDOSA {(v >> 10) & 1} "
            f"TDRA {(v >> 11) & 1} HPME {(v >> 7) & 1} HPMN {v & 0x1F}")


def debug_state(get: Callable[[str, int], int]) -> dict:
    """The debug registers through ``get(name, n)``: names MDSCR, OSLK, BVR, BCR, WVR, WCR
    (n: the breakpoint/watchpoint)."""
    return {"mdscr": get("MDSCR", 0), "oslk": get("OSLK", 0) & 1,
            "bps": [(get("BCR", n), get("BVR", n)) for n in range(NUM_BRPS)],
            "wps": [(get("WCR", n), get("WVR", n)) for n in range(NUM_WRPS)]}


def pe_debug_state(m: Any, pe: int) -> dict:
    """PE ``pe``'s own debug registers."""
    regs = {"MDSCR": "MDSCR_EL1", "BVR": "DBGBVR{}_EL1", "BCR": "DBGBCR{}_EL1",
            "WVR": "DBGWVR{}_EL1", "WCR": "DBGWCR{}_EL1"}

    def get(name: str, n: int) -> int:
        if name == "OSLK":
            return (m.reg("OSLSR_EL1", pe) >> 1) & 1
        return m.reg(regs[name].format(n), pe)
    return debug_state(get)


def debug_lines(d: dict) -> list[str]:
    """MDSCR_EL1 and the OS lock, then every enabled breakpoint and watchpoint decoded."""
    out = [f"{mdscr_text(d['mdscr'])}  OS lock {'locked' if d['oslk'] else 'unlocked'}"]
    bps = [bp_text(n, bcr, bvr) for n, (bcr, bvr) in enumerate(d["bps"]) if bcr & 1]
    wps = [wp_text(n, wcr, wvr) for n, (wcr, wvr) in enumerate(d["wps"]) if wcr & 1]
    out += bps or [f"no breakpoint enabled (of {len(d['bps'])})"]
    out += wps or [f"no watchpoint enabled (of {len(d['wps'])})"]
    return out


def ptimer_text(ctl: int, cval: int, cntpct: int) -> str:
    """An EL1 physical timer: CTL, CVAL and whether its output is asserted (ENABLE, not IMASK,
    CNTPCT >= CVAL: ISTATUS unmasked, the level of PPI 30)."""
    istatus = bool(ctl & 1) and cntpct >= cval
    pending = istatus and not ctl & 2
    return (f"CNTP_CTL 0x{ctl & 3:x} (ENABLE {ctl & 1} IMASK {(ctl >> 1) & 1} ISTATUS "
            f"{int(istatus)})  CNTP_CVAL 0x{cval:x}  CNTPCT 0x{cntpct:x}  PPI 30 "
            f"{'pending' if pending else 'not pending'}")


def pmu_lines(p: dict, counters: int) -> list[str]:
    """A PMU share: PMCR_EL0 (E, N), the enabled counters, overflow and interrupt-enable bits,
    the cycle counter and event counters 0..counters-1 with their event numbers (C: the
    cycle counter's bit 31). ``p``: pmcr,
    pmcnten, pmovs, pminten, pmccntr, pmevcntr[n], pmevtyper[n]."""
    def names(bits: int) -> str:
        s = [f"{n}" for n in range(counters) if bits >> n & 1] + (["C"] if bits >> 31 & 1 else [])
        return ",".join(s) or "-"
    from armvirt.devices.pmu_counter import EVT_MASK
    pmcr = p["pmcr"]
    return [f"PMCR_EL0 0x{pmcr:x} (E {pmcr & 1})  enabled {names(p['pmcnten'])}  overflow "
            f"{names(p['pmovs'])}  interrupt-enabled {names(p['pminten'])}",
            f"PMCCNTR 0x{p['pmccntr']:x}  " + "  ".join(
                f"PMEVCNTR{n} 0x{p['pmevcntr'][n]:x} (event 0x{p['pmevtyper'][n] & EVT_MASK:x})"
                for n in range(counters))]
