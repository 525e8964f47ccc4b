"""--trace exc events and the Chrome/Perfetto export."""
import json

from armvirt import trace
from armvirt.build import assemble
from armvirt.machine import Machine

BASE = 0x4000_0000

# EL1 code drops to EL0, which makes two SVCs; the EL1 handler returns to it each time.
SRC = """
    adr  x0, vectors
    msr  vbar_el1, x0
    adr  x0, user
    msr  elr_el1, x0
    msr  spsr_el1, xzr          // EL0t, interrupts unmasked
    eret
user:
    svc  #1
    svc  #2
    hlt  #0
    .balign 2048
vectors:
    .rept 0x400 / 4
    nop
    .endr
    eret                        // 0x400: synchronous exception from EL0 (lower EL, AArch64)
"""


def run_traced():
    prog = assemble(SRC, BASE)
    m = Machine(ram_size=1 << 20, trace={"exc"})
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, prog.entry, el=1)
    m.run(400)
    return m, prog


def test_exception_events_and_text():
    m, prog = run_traced()
    kinds = [(e[0], e[3], e[4]) for e in m.trace_events[:5]]
    assert kinds == [(2, 1, 0), (1, 0, 1), (2, 1, 0), (1, 0, 1), (2, 1, 0)]
    entry = m.trace_events[1]
    assert (entry[5] >> 26) == 0x15 and entry[5] & 0xFFFF == 1        # SVC #1
    assert entry[6] == prog.symbols["user"] + 4                        # ELR: after the SVC
    line = trace.format_event(entry)
    assert "EL0->EL1 SVC (EC 0x15)" in line and "ESR=0x56000001" in line


def test_chrome_trace_has_tracks_spans_and_instants():
    m, _ = run_traced()
    doc = json.loads(json.dumps(trace.chrome_trace(
        m.trace_events, smp=1, end_cycles={0: m.reg("cycles")})))
    evs = doc["traceEvents"]
    assert {e["args"]["name"] for e in evs if e.get("name") == "thread_name"} == {"PE0"}
    spans = [e for e in evs if e["ph"] == "X"]
    assert [s["name"] for s in spans][:6] == ["EL1", "EL0", "EL1", "EL0", "EL1", "EL0"]
    assert all(s["dur"] > 0 for s in spans)
    # spans on one track do not overlap and are in time order
    for a, b in zip(spans, spans[1:]):
        assert a["ts"] + a["dur"] <= b["ts"] + 1e-9
    instants = [e for e in evs if e["ph"] == "i"]
    assert [i["name"] for i in instants][:2] == ["SVC", "SVC"]
    assert instants[0]["args"]["esr"] == "0x56000001"


def test_interrupts_are_instant_events_of_their_own_category():
    """An asynchronous entry (ESR -1 in the trace ring: no syndrome) through the IRQ vector
    offset is an "interrupt" instant named after the vector; a synchronous one stays an
    "exception" named after its class."""
    from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
    from armvirt.debug.explain import ec_short
    from armvirt.trace import chrome_trace
    vbar = 0x4000_1000
    events = [(TR_EXC_ENTRY, 0, 100, 1, 1, -1, 0x4000_0040, 0, vbar + 0x200 + 0x80, 90),
              (TR_EXC_RETURN, 0, 180, 1, 1, -1, 0x4000_0040, 0, 0x3C5, 160),
              (TR_EXC_ENTRY, 0, 300, 0, 1, 0x5600_0000, 0x4000_0100, 0, vbar + 0x400, 280)]
    t = chrome_trace(events, smp=1)["traceEvents"]
    instants = [(e["name"], e["cat"]) for e in t if e["ph"] == "i"]
    assert instants == [("IRQ", "interrupt"), (ec_short(0x15), "exception")]
