"""Build the assembly guests and the hypervisor firmware: ``python -m armvirt.build
{guests,firmware,all}``.

Sources see the board's facts as preprocessor defines taken from their one home
(``armvirt.memmap`` for addresses and interrupt IDs, ``armvirt.psci`` for PSCI function IDs and
return codes), so no address is typed twice. Outputs go to ``build/``: an ELF with symbols and
source lines for the debugger, and a flat binary.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "guests"
FIRMWARE = ROOT / "firmware"
BUILD = ROOT / "build"
HV_MODES = ("split", "direct")


def board_defines() -> dict[str, int]:
    """Every integer fact a guest or the firmware may name, from its single source."""
    from armvirt import memmap, psci
    d: dict[str, int] = {}
    for k, v in vars(memmap).items():
        if k.isupper() and isinstance(v, int):
            d[k] = v
    for k, v in vars(psci).items():
        if k.isupper() and isinstance(v, int):
            d[f"PSCI_{k}" if not k.startswith("PSCI_") else k] = v & 0xFFFF_FFFF_FFFF_FFFF
    return d


def build_guest(src: Path, out_dir: Path, base: int | None = None,
                defines: dict[str, int] | None = None, name: str | None = None,
                include_dirs: list[Path] | None = None) -> Path:
    """Assemble one source into ``out_dir/<name>.elf`` and ``.bin``; returns the ELF path."""
    from armvirt import memmap
    from armvirt.asm import assemble
    prog = assemble(src.read_text(), base=memmap.RAM_BASE if base is None else base,
                    defines={**board_defines(), **(defines or {})},
                    include_dirs=include_dirs or [src.parent, GUESTS / "include"],
                    filename=str(src))
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or src.stem
    elf = out_dir / (name + ".elf")
    prog.to_elf(elf)
    prog.to_bin(out_dir / (name + ".bin"))
    return elf


def hv_guest_defines() -> dict[str, int]:
    """What armvirt's hypervisor offers its guests beyond the virt board (armvirt/hv/abi.py):
    the doorbell device and the vendor hypercalls, for guests written for it (microbench)."""
    from armvirt.hv import abi
    return {k: v for k, v in abi.CONSTANTS.items() if k.startswith(("DOORBELL_", "ARMVIRT_HC_"))}


def build_guests(out_dir: Path = BUILD / "guests") -> list[Path]:
    defines = hv_guest_defines()
    return [build_guest(src, out_dir, defines=defines) for src in sorted(GUESTS.glob("*.S"))]


def build_firmware(mode: str = "split", out_dir: Path = BUILD / "firmware") -> Path:
    """Assemble the hypervisor (``firmware/hv.S``) in one of its two builds, ``split`` (exits
    handled by the host part at EL1) or ``direct`` (handled at EL2), into
    ``out_dir/hv-<mode>.elf`` and ``.bin``; returns the ELF path. The structure offsets come
    from ``firmware/include/hv_abi.h``, generated from :mod:`armvirt.hv.abi`."""
    from armvirt.hv import abi
    if mode not in HV_MODES:
        raise ValueError(f"unknown hypervisor build {mode!r} (known: {', '.join(HV_MODES)})")
    return build_guest(FIRMWARE / "hv.S", out_dir, base=abi.HV_BASE,
                       defines={f"HV_{mode.upper()}": 1}, name=f"hv-{mode}",
                       include_dirs=[FIRMWARE, FIRMWARE / "include"])


def build_all_firmware(out_dir: Path = BUILD / "firmware") -> list[Path]:
    return [build_firmware(mode, out_dir) for mode in HV_MODES]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build armvirt's guests and firmware.")
    ap.add_argument("what", choices=("guests", "firmware", "all"))
    args = ap.parse_args(argv)
    try:
        built: list[Path] = []
        if args.what in ("firmware", "all"):
            built += build_all_firmware()
        if args.what in ("guests", "all"):
            built += build_guests()
        for p in built:
            print(f"  built {p.relative_to(ROOT)}")
    except Exception as e:  # an assembler error: one line, no traceback
        from armvirt.asm import AsmError
        if isinstance(e, AsmError):
            print(f"armvirt.build: {e}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
