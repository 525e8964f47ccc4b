"""One table of exception classes (armvirt/cpu/syndrome.py): the core, the syndrome decoder,
the REPL and the traces take numbers and names from it, and nothing else defines them."""
from __future__ import annotations

import re
from pathlib import Path

from armvirt.cpu import exceptions, syndrome
from armvirt.debug import explain, repl
from armvirt import trace

PKG = Path(__file__).resolve().parent.parent / "armvirt"


def test_every_consumer_uses_the_one_table():
    for name in ("EC_UNKNOWN", "EC_SVC64", "EC_HVC64", "EC_DABT_LOWER", "EC_SYSREG", "ESR_IL"):
        assert getattr(exceptions, name) == getattr(syndrome, name)
    assert explain.EC_NAMES is syndrome.EC_NAMES and explain.EC_SHORT is syndrome.EC_SHORT
    assert explain.FAR_ECS is syndrome.FAR_ECS
    assert trace.ec_short(0x16) == explain.ec_short(0x16) == "HVC"
    assert repl._EC_BY_NAME["dabt"] == (0x24, 0x25) == syndrome.EC_KEYWORDS["dabt"]


def test_the_table_is_consistent():
    values = [row[0] for row in syndrome.EC_TABLE]
    names = [row[1] for row in syndrome.EC_TABLE]
    assert len(set(values)) == len(values) and len(set(names)) == len(names)
    assert all(0 <= v <= 0x3F for v in values)
    for v, name, short, text, _ in syndrome.EC_TABLE:
        assert getattr(syndrome, f"EC_{name}") == v and short and text


def test_exception_classes_are_defined_nowhere_else():
    """No other Python source assigns an EC_* number or spells an Arm ARM class description;
    the firmware's macros come from the generated include."""
    own = PKG / "cpu" / "syndrome.py"
    for p in PKG.rglob("*.py"):
        if p == own:
            continue
        text = p.read_text()
        assert not re.search(r"^\s*EC_[A-Z0-9_]+\s*=\s*0x", text, re.M), p
        assert "SVC instruction execution in AArch64 state" not in text, p
        assert not re.search(r"0x15:\s*\"SVC", text), p


def test_trace_and_the_size_parser_sit_below_the_debugger_and_the_cli():
    """armvirt.trace (core tracing) does not reach up into armvirt.debug, and parse_size is
    below both the command line and the hypervisor's configuration."""
    import subprocess
    import sys
    code = ("import sys, armvirt.trace, armvirt.units, armvirt.hv.config; "
            "bad = sorted(m for m in sys.modules if m.startswith(('armvirt.debug', "
            "'armvirt.cli'))); print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=PKG.parent)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_firmware_include_is_generated_from_the_table():
    """firmware/include/hv_abi.h (armvirt/hv/gen_abi.py) defines every EC_* of the table with
    its value; no other firmware source defines one."""
    from armvirt.hv import gen_abi
    fw = PKG.parent / "firmware"
    text = (fw / "include" / "hv_abi.h").read_text()
    assert text == gen_abi.render()
    defined = dict(re.findall(r"^#define (EC_\w+) (\w+)", text, re.M))
    assert {n: int(v, 0) for n, v in defined.items()} == \
        {f"EC_{row[1]}": row[0] for row in syndrome.EC_TABLE}
    for p in fw.rglob("*"):
        if p.is_file() and p.name != "hv_abi.h":
            assert not re.search(r"^\s*#define\s+EC_", p.read_text(), re.M), p


def test_trapped_system_register_keys_are_generated(tmp_path):
    """host/sysreg.S looks trapped registers up by keys from hv_abi.h (SYSREG_ISS_KEY_*, built
    from the core's register table, armvirt/sysinsn_table.py and syndrome.SYSREG_ISS_FIELDS):
    the keys the assembled firmware holds decode, with the debugger's decoder, to the registers
    the table is about, and no firmware source spells an ISS field position itself."""
    from armvirt.build import build_firmware
    from armvirt.hv import abi
    from armvirt.loader import read_elf
    elf = build_firmware("split", tmp_path)
    syms = read_elf(elf.read_bytes()).symbols
    image = elf.with_suffix(".bin").read_bytes()
    at = syms["sysreg_table"] - abi.HV_BASE
    names = []
    while int.from_bytes(image[at + 4:at + 8], "little"):      # {key, kind}, ended by kind 0
        key = int.from_bytes(image[at:at + 4], "little")
        assert key & ~0x3FFC1E == 0, hex(key)          # no Rt, no Direction (the ISS key mask)
        names.append(explain.sysreg_from_iss(key)[0].removesuffix(", x0").removeprefix("MSR "))
        at += 8
    assert names == ["ACTLR_EL1", "DC ISW", "DC CSW", "DC CISW", "ICC_SGI1R_EL1",
                     "ICC_SGI0R_EL1", "ICC_ASGI1R_EL1", "CNTP_TVAL_EL0", "CNTP_CTL_EL0",
                     "CNTP_CVAL_EL0"]
    mask = sum(((1 << w) - 1) << lsb for name, lsb, w in syndrome.SYSREG_ISS_FIELDS
               if name not in ("Rt", "Direction"))
    assert f"#define SYSREG_ISS_KEY_MASK 0x{mask:X}\n" in \
        (PKG.parent / "firmware" / "include" / "hv_abi.h").read_text()
    for p in (PKG.parent / "firmware" / "host").glob("*.S"):
        text = p.read_text()
        assert not re.search(r"<<\s*(17|20)\)", text), f"{p}: a hand-encoded ISS key"
        assert not re.search(r"#define\s+\w*ISS_KEY", text), p
