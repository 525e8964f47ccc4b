"""VM descriptions for the command line: ``--vm SPEC`` and ``--config vms.toml``.

``--vm IMAGE[,key=value]...`` or ``--vm bios=FILE[,key=value]...`` (repeatable), keys:

    name=NAME  mem=SIZE  vcpus=N  pin=PE[:PE...]  append=ARGS  initrd=FILE  dtb=FILE
    output=FILE
    kind=auto|elf|image|raw  load-addr=ADDR  base=ADDR  stage2=on|off
    bios=FILE  pflash=FILE

(a value cannot contain a comma: give such an ``append`` in a TOML file)

``bios`` starts the VM from firmware in flash instead of an image, as ``--bios`` does on the
bare board: the file in flash bank 0 at IPA 0 (read-only, run in place), bank 1 at 0x0400_0000
emulated (``pflash``: a 64 MiB file for it, written back after the run), the device tree at the
start of the VM's RAM (firmware/host/vflash.S).

A TOML file (Python's tomllib) says the same with tables; paths are relative to the file::

    hv = "split"          # or "direct" (the --hv option wins)
    smp = 2               # physical PEs (default: enough for the pinning)
    mem = "512M"          # physical RAM (default: the hypervisor plus the VMs)

    [[vm]]
    name = "web"
    image = "build/guests/hello.elf"
    mem = "64M"
    vcpus = 2
    pin = [0, 1]
    output = "web.log"
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from armvirt.hv.launch import HvConfig, LaunchError, VMConfig

_VM_KEYS = {"name", "image", "mem", "vcpus", "pin", "append", "initrd", "dtb", "output", "kind",
            "load-addr",
            "load_addr", "base", "stage2", "bios", "pflash"}


def _size(value: Any, what: str) -> int:
    from armvirt.units import parse_size
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return parse_size(str(value))
    except ValueError as e:
        raise LaunchError(f"{what}: {e}") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value), 0)
    except ValueError:
        raise LaunchError(f"{what}: not an integer: {value!r}") from None


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).lower()
    if v in ("on", "yes", "true", "1"):
        return True
    if v in ("off", "no", "false", "0"):
        return False
    raise LaunchError(f"{what}: say on or off, not {value!r}")


def vm_from_dict(d: dict[str, Any], where: str, base_dir: Path | None = None) -> VMConfig:
    """A VMConfig from --vm keys or a [[vm]] table (``where`` names it in messages)."""
    unknown = set(d) - _VM_KEYS
    if unknown:
        raise LaunchError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(_VM_KEYS - {'load_addr'}))})")
    if "image" not in d and "bios" not in d:
        raise LaunchError(f"{where}: no image (or bios)")
    if "image" in d and "bios" in d:
        raise LaunchError(f"{where}: give an image or a bios, not both")

    def path(p: Any) -> str:
        if not str(p):
            raise LaunchError(f"{where}: an empty file name")
        p = Path(str(p))
        return str(base_dir / p) if base_dir is not None and not p.is_absolute() else str(p)

    vm = VMConfig(image=path(d["image"]) if "image" in d else None)
    if "bios" in d:
        vm.bios = path(d["bios"])
    if "pflash" in d:
        vm.pflash = path(d["pflash"])
    if "name" in d:
        vm.name = str(d["name"])
    if "mem" in d:
        vm.mem = _size(d["mem"], f"{where}: mem")
    if "vcpus" in d:
        vm.vcpus = _int(d["vcpus"], f"{where}: vcpus")
    if "pin" in d:
        pin = d["pin"]
        items = pin if isinstance(pin, list) else str(pin).split(":")
        vm.pin = [_int(p, f"{where}: pin") for p in items]
    if "append" in d:
        vm.append = str(d["append"])
    if "initrd" in d:
        vm.initrd = path(d["initrd"])
    if "dtb" in d:
        vm.dtb = path(d["dtb"])
    if "output" in d:
        vm.output = path(d["output"])
    if "kind" in d:
        vm.kind = str(d["kind"])
    for key in ("load-addr", "load_addr"):
        if key in d:
            vm.load_addr = _int(d[key], f"{where}: {key}")
    if "base" in d:
        vm.base = _int(d["base"], f"{where}: base")
    if "stage2" in d:
        vm.stage2 = _bool(d["stage2"], f"{where}: stage2")
    return vm


def parse_vm_spec(spec: str, index: int) -> VMConfig:
    """``IMAGE[,key=value...]``: the argument of one ``--vm``."""
    first, *rest = spec.split(",")
    d: dict[str, Any] = {}
    if first.startswith("bios="):        # --vm bios=FILE,...: no image
        rest.insert(0, first)
    else:
        d["image"] = first
    for item in rest:
        key, eq, value = item.partition("=")
        if not eq:
            raise LaunchError(f"--vm {spec}: {item!r} is not key=value")
        d[key.strip()] = value.strip()
    return vm_from_dict(d, f"--vm {spec}")


def load_config(path: str) -> HvConfig:
    """Read a TOML description of the VMs (see the module docstring)."""
    try:
        import tomllib
    except ImportError:                 # Python 3.10
        raise LaunchError(f"{path}: reading TOML needs Python 3.11 or later (tomllib); "
                          f"use --vm options instead") from None
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise LaunchError(f"{path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LaunchError(f"{path}: not valid TOML ({e})") from None
    unknown = set(doc) - {"hv", "smp", "mem", "vm"}
    if unknown:
        raise LaunchError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(sorted(unknown))} (known: hv, smp, mem, [[vm]])")
    tables = doc.get("vm", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise LaunchError(f"{path}: VMs are [[vm]] tables")
    vms = [vm_from_dict(t, f"{path}: [[vm]] #{i + 1}", p.parent) for i, t in enumerate(tables)]
    cfg = HvConfig(vms)
    if "hv" in doc:
        cfg.mode = str(doc["hv"])
    if "smp" in doc:
        cfg.smp = _int(doc["smp"], f"{path}: smp")
    if "mem" in doc:
        cfg.mem = _size(doc["mem"], f"{path}: mem")
    return cfg
