"""Human-readable traces: exception entries and returns (``--trace exc``, like QEMU's
``-d int``) and the report of UNDEFINED instructions (``--trace unimp``, like ``-d unimp``)."""
from __future__ import annotations

from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN

EC_NAMES = {
    0x00: "UNKNOWN (UNDEFINED)", 0x01: "WFI/WFE", 0x07: "FP/SIMD access", 0x0E: "illegal state",
    0x15: "SVC", 0x16: "HVC", 0x17: "SMC", 0x18: "MSR/MRS/SYS trap", 0x20: "instruction abort (lower EL)",
    0x21: "instruction abort (same EL)", 0x22: "PC alignment", 0x24: "data abort (lower EL)",
    0x25: "data abort (same EL)", 0x26: "SP alignment", 0x2F: "SError", 0x3C: "BRK",
}
VECTOR_KINDS = {0x000: "sync", 0x080: "IRQ", 0x100: "FIQ", 0x180: "SError"}


def _u(v: int) -> int:
    return v & ((1 << 64) - 1)


def format_event(ev: tuple[int, ...]) -> str:
    """One line per event of the trace ring (see armvirt.cpu.exceptions.trace_event)."""
    kind, pe, cycles, from_el, to_el, esr, elr, far, target, _instret = ev
    if kind == TR_EXC_ENTRY:
        kind_name = VECTOR_KINDS.get(_u(target) & 0x180, "sync")
        if esr >= 0:
            ec = (esr >> 26) & 0x3F
            what = f"{EC_NAMES.get(ec, 'EC')} (EC 0x{ec:02x})"
            return (f"[{cycles:>10}] PE{pe} exception EL{from_el}->EL{to_el} {what} "
                    f"ESR=0x{_u(esr):08x} ELR=0x{_u(elr):x} FAR=0x{_u(far):x} "
                    f"vector=0x{_u(target):x}")
        return (f"[{cycles:>10}] PE{pe} {kind_name} EL{from_el}->EL{to_el} "
                f"ELR=0x{_u(elr):x} vector=0x{_u(target):x}")
    if kind == TR_EXC_RETURN:
        return (f"[{cycles:>10}] PE{pe} eret EL{from_el}->EL{to_el} to 0x{_u(elr):x} "
                f"SPSR=0x{_u(target):x}")
    return f"[{cycles:>10}] PE{pe} event {kind}"


def format_unimp(rows: list[tuple[str, int, int]]) -> str:
    if not rows:
        return "unimp: no UNDEFINED instruction was executed"
    lines = ["unimp: UNDEFINED instructions taken (pattern, count, first pc):"]
    for name, count, pc in sorted(rows, key=lambda r: -r[1]):
        lines.append(f"  {name:<24} {count:>8}  0x{pc:x}")
    return "\n".join(lines)
