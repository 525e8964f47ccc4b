"""The ``armvirt`` command line.

    armvirt run IMAGE [--hv {split,direct}] [--smp N] [--mem SIZE] [--append ARGS]
                      [--max-insns N] [--trace exc,insn,unimp] [--trace-file FILE]
                      [--trace-range LO-HI] [--trace-vm NAME] [--regs-json FILE] [--gdb ADDR]
    armvirt run (--vm SPEC)... | --config vms.toml [--hv {split,direct}] [--smp N] [--mem SIZE]
    armvirt run --bare IMAGE [--el {1,2}] [--smp N] [--mem SIZE] ...
    armvirt run --bare --bios FILE [--pflash FILE] [--smp N] [--mem SIZE] ...
    armvirt debug IMAGE [run options] [-ex CMD]... [--batch FILE]
    armvirt dumpdtb FILE [--dts] [--el {1,2}] [--smp N] [--mem SIZE] [--append ARGS]
    armvirt debug IMAGE [--el {1,2}] [--smp N] [--mem SIZE] [--append ARGS]
                        [--load-addr ADDR] [--symbols ELF]... [-ex CMD]... [--batch FILE]

``run`` boots IMAGE as a guest of armvirt's hypervisor (``firmware/``), built ``split`` (KVM/ARM
style, the default) or ``direct``; ``--bare`` boots it on the board itself. Exit status 0 when
the guest (every VM) powered off (PSCI SYSTEM_OFF) or asked for a reset; 1 when it stopped
otherwise (every PE off or asleep for good, a VM stopped by the hypervisor); 2 for bad input
(usage, image, VM configuration); 3 when the instruction budget ran out; 4 for an emulator
error or a hypervisor panic.

``debug``: the debugger (armvirt/debug/repl.py), stopped at the entry point. With ``-ex`` and/or
``--batch`` the commands run in order, each output is printed, and the exit status is 0 (2 for
bad input); otherwise an interactive session starts.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys

EXIT_OK = 0
EXIT_GUEST = 1
EXIT_USAGE = 2
EXIT_BUDGET = 3
EXIT_EMULATOR = 4

TRACE_KINDS = ("exc", "unimp", "insn", "mmu")
DEFAULT_MEM = 128 << 20


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2 (its default is also 2, but
    it prints the whole usage block first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def parse_size(text: str) -> int:
    """--mem and friends: ``armvirt.units.parse_size`` as an argparse type."""
    from armvirt.units import parse_size as parse
    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_trace(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    for k in kinds:
        if k not in TRACE_KINDS:
            raise argparse.ArgumentTypeError(
                f"unknown trace kind {k!r} (known: {', '.join(TRACE_KINDS)})")
    return kinds


def parse_range(text: str) -> tuple[int, int]:
    """'0x40000000-0x40000100' -> (lo, hi): a half-open VA range for --trace-range."""
    lo, sep, hi = text.partition("-")
    try:
        a, b = int(lo, 0), int(hi, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address range: {text!r} (try "
                                         f"0x40000000-0x40000100)") from None
    if not sep or a >= b or a < 0:
        raise argparse.ArgumentTypeError(f"not an address range LO-HI with LO < HI: {text!r}")
    return a, b


def _int(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _rtc(text: str) -> int:
    from armvirt.board import parse_rtc
    try:
        return parse_rtc(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="armvirt", description="An instruction-level AArch64 system emulator "
                "with EL2 virtualization, and the KVM-like hypervisor it boots.")
    p.add_argument("--version", action="version", version="armvirt 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    r = sub.add_parser("run", help="boot an image under the hypervisor, or on the bare board",
                       description="Boot IMAGE (an AArch64 ELF, an arm64 Linux Image, or a raw "
                       "binary) as a guest of armvirt's hypervisor (or, with --bare, directly on "
                       "the virt board) and forward its console to stdout. Under the hypervisor, "
                       "--smp, --mem and --append describe the guest, as for QEMU; with --vm or "
                       "--config, each VM says its own and --smp/--mem size the board.")
    _board_options(r, image_optional=True)
    r.add_argument("--hv", choices=("split", "direct"), default=None,
                   help="hypervisor build: split (KVM/ARM: exits handled by the host part at "
                   "EL1, the default) or direct (exits handled at EL2, Xen-like)")
    r.add_argument("--vm", action="append", default=[], metavar="SPEC",
                   help="a VM: IMAGE[,name=N][,mem=SIZE][,vcpus=N][,pin=PE:PE][,append=ARGS]"
                   "[,initrd=FILE][,dtb=FILE][,output=FILE][,kind=K][,load-addr=A][,base=PA]"
                   "[,stage2=on|off], or bios=FILE[,pflash=FILE][,...] instead of IMAGE; "
                   "repeatable")
    r.add_argument("--config", metavar="FILE",
                   help="the VMs in a TOML file ([[vm]] tables with the --vm keys; hv, smp, mem)")
    r.add_argument("--max-insns", type=_int, default=None, metavar="N",
                   help="stop with exit status 3 after N instructions (all PEs together)")
    r.add_argument("--trace", type=parse_trace, default=[], metavar="KINDS",
                   help="comma-separated: exc (every exception entry and return), insn "
                   "(every retired instruction: PE, world, EL, symbol, disassembly, the "
                   "registers it wrote), mmu (every abort with the whole stage 1/stage 2 walk "
                   "of its address), unimp (report UNDEFINED instructions at the end); "
                   "to stderr, or to --trace-file")
    r.add_argument("--trace-file", metavar="FILE",
                   help="FILE.json: a Chrome/Perfetto trace of every PE's exception-level "
                   "phases, each world's own tracks (hypervisor, host part, each VM and vCPU) "
                   "and the exceptions (open it in ui.perfetto.dev); any other name: the text "
                   "traces of --trace (default exc) go there instead of stderr")
    r.add_argument("--trace-range", type=parse_range, action="append", default=[],
                   metavar="LO-HI", help="--trace insn: only instructions at VAs in [LO, HI) "
                   "(repeatable); the rest runs at full speed")
    r.add_argument("--trace-vm", metavar="NAME",
                   help="--trace insn and exc: only the instructions and exceptions of this "
                   "VM (under the hypervisor)")
    r.add_argument("--regs-json", metavar="FILE",
                   help="write the final state of every PE as JSON to FILE")
    r.add_argument("--exit-stats", action="store_true",
                   help="under the hypervisor: print each vCPU's exits by class at the end")
    r.add_argument("--exit-timing", action="store_true",
                   help="print KVM's exit timing table at the end: per exit class (EC) the "
                   "count, min, max, mean, sum and std dev of the cycles outside the guest, "
                   "and the cycles in the guest")

    from armvirt.bench import add_parser as add_bench
    add_bench(sub)

    t = sub.add_parser("dumpdtb", help="write the device tree the board gives a guest",
                       description="Write the flattened device tree that `armvirt run` would "
                       "pass a guest booted with the same options (as qemu -M virt,dumpdtb=FILE).")
    t.add_argument("output", metavar="FILE", help="output file, or - for standard output")
    t.add_argument("--dts", action="store_true",
                   help="write readable device-tree source instead of the binary blob")
    t.add_argument("--el", type=int, choices=(1, 2), default=1,
                   help="entry EL the guest would get: sets the PSCI conduit (1: hvc, 2: smc)")
    t.add_argument("--smp", type=_int, default=1, metavar="N", help="number of PEs (default 1)")
    t.add_argument("--mem", type=parse_size, default="128M", metavar="SIZE",
                   help="RAM size, e.g. 128M or 1G (default 128M)")
    t.add_argument("--append", default="", metavar="ARGS", help="/chosen/bootargs")

    d = sub.add_parser("debug", help="debug an image (gdb-like commands, reverse execution)",
                       description="Load IMAGE on the virt board, stopped at its entry point, "
                       "and debug it: gdb's commands (break, step, x, print, bt, watch, ...) "
                       "plus the emulator's own (info el, info sysregs, catch exception, "
                       "explain fault, reverse-stepi, reverse-continue). With -ex or --batch "
                       "the commands run non-interactively.")
    _board_options(d)
    d.add_argument("--hv", choices=("split", "direct"), default=None,
                   help="debug IMAGE as a guest of the hypervisor (that build), starting at the "
                   "firmware's entry at EL2, with the firmware's symbols loaded too")
    d.add_argument("--symbols", action="append", default=[], metavar="ELF",
                   help="also load the symbols and source lines of ELF (repeatable)")
    d.add_argument("-ex", dest="script", action=_Script, metavar="CMD",
                   help="run debugger command CMD (repeatable; in order with --batch)")
    d.add_argument("--batch", dest="script", action=_Script, metavar="FILE",
                   help="run the debugger commands in FILE ('-': stdin), one per line, "
                   "then exit")
    return p


class _Script(argparse.Action):
    """Collects -ex commands and --batch files in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore
        items = list(getattr(namespace, self.dest, None) or [])
        items.append(("file" if option_string == "--batch" else "cmd", values))
        setattr(namespace, self.dest, items)


def parse_profile(text: str):
    """--profile NAME|FILE: a cost profile (armvirt/costs.py), loaded and checked now so that
    a bad one is one line and exit 2."""
    from armvirt import costs
    try:
        return costs.load(text)
    except costs.ProfileError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _board_options(r: argparse.ArgumentParser, image_optional: bool = False) -> None:
    """The options that describe the board and how IMAGE is booted (run and debug)."""
    if image_optional:
        r.add_argument("image", metavar="IMAGE", nargs="?", help="the image to boot")
        r.add_argument("--bare", action="store_true",
                       help="boot IMAGE directly on the board, with no hypervisor underneath")
    else:
        r.add_argument("image", metavar="IMAGE", nargs="?",
                       help="the image to boot (on the bare board)")
    r.add_argument("--profile", type=parse_profile, default=None, metavar="NAME|FILE",
                   help="cost profile: the cycles each instruction and event costs (simple, "
                   "the default; cortex-a15; x-gene; or a TOML file like armvirt/profiles/*)")
    r.add_argument("--bios", default=None, metavar="FILE",
                   help="boot firmware from flash, as qemu -bios: FILE (at most 64 MiB) in "
                   "CFI flash bank 0 at 0x0, started at the highest EL (EL2 bare, EL1 as a "
                   "guest of the hypervisor) with the DTB at the start of RAM (instead of "
                   "IMAGE). A system reset restarts it")
    r.add_argument("--pflash", default=None, metavar="FILE",
                   help="with --bios: flash bank 1 at 0x4000000, the firmware's variable store "
                   "(a 64 MiB file: truncate -s 64M FILE); the guest's changes are written "
                   "back to FILE")
    r.add_argument("--el", type=int, choices=(1, 2), default=None,
                   help="exception level to enter IMAGE at (default 1, as qemu -M virt); "
                   "at EL1 the board answers PSCI over HVC, at EL2 over SMC")
    r.add_argument("--smp", type=_int, default=None, metavar="N",
                   help="number of PEs (default 1); under the hypervisor with IMAGE, the guest's "
                   "vCPUs, one PE each")
    r.add_argument("--mem", type=parse_size, default=None, metavar="SIZE",
                   help="RAM size, e.g. 128M or 1G (default 128M); under the hypervisor with "
                   "IMAGE, the guest's RAM (the board gets 2 MiB more)")
    r.add_argument("--append", default="", metavar="ARGS",
                   help="kernel command line (/chosen/bootargs in the DTB)")
    r.add_argument("--rtc", type=_rtc, default=None, metavar="WHEN",
                   help="the PL031 RTC's time at power-on: 'now' (the host's clock), seconds "
                   "since 1970, or YYYY-MM-DD[THH:MM:SS] UTC (default 2025-01-01, so runs are "
                   "deterministic); it then follows the machine's virtual time")
    r.add_argument("--initrd", default=None, metavar="FILE",
                   help="initial RAM disk for an arm64 Linux Image, placed and described in "
                   "/chosen as qemu -initrd does")
    r.add_argument("--dtb", default=None, metavar="FILE",
                   help="pass this device tree blob instead of the board's, with /memory and "
                   "/chosen (bootargs, initrd) patched as qemu -dtb does")
    r.add_argument("--load-addr", type=lambda s: int(s, 0), default=None, metavar="ADDR",
                   help="load address for a raw binary (default: start of RAM)")
    r.add_argument("--gdb", metavar="ADDR", default=None,
                   help="serve GDB's remote protocol on ADDR, as qemu -gdb: tcp::PORT "
                   "(localhost only), tcp:HOST:PORT or unix:PATH; then in gdb-multiarch: "
                   "target remote :PORT")
    r.add_argument("--wait", action="store_true",
                   help="with --gdb: keep the guest stopped at its entry until GDB connects "
                   "and resumes it (qemu -S); 'debug' always waits")


def regs_snapshot(m) -> dict:
    """Final state of every PE, for --regs-json."""
    from armvirt import layout as L
    from armvirt.cpu import sysreg_table as T
    out = {"pes": []}
    for pe in range(m.smp):
        d = {f"x{i}": m.reg(f"x{i}", pe) for i in range(31)}
        for n in ("sp", "pc", "pstate", "el", "cycles", "instret", "sp_el0", "sp_el1",
                  "sp_el2"):
            d[n] = m.reg(n, pe)
        d["power"] = {L.POWER_ON: "on", L.POWER_OFF: "off", L.POWER_WFI: "wfi",
                      L.POWER_WFE: "wfe"}[int(m.cpus[pe][L.POWER])]
        d["sysregs"] = {r.name: m.reg(r.name, pe) for r in T.SYSREGS
                        if r.kind == T.KIND_PLAIN}
        out["pes"].append(d)
    return out


def _serve_gdb(m, args, symbols, *, wait: bool, until_end: bool = False):
    """Serve GDB on args.gdb until the session ends (``until_end``: until the run ends, with
    the guest running between sessions, ``GdbServer.serve_run``): the ServeResult, or None
    (reported)."""
    from armvirt.debug.gdbstub import GdbServer
    server = GdbServer(m, symbols=symbols)
    try:
        where = server.listen(args.gdb)
    except (OSError, ValueError) as e:
        print(f"armvirt: cannot serve gdb on {args.gdb}: {e}", file=sys.stderr)
        return None
    how = (f"target remote {where[len('tcp:'):]}" if where.startswith("tcp:")
           else f"target remote | socat - UNIX-CONNECT:{where[len('unix:'):]}")
    print(f"armvirt: gdb server on {where}; in gdb-multiarch: {how}"
          + ("" if wait else " (the guest is running)"), file=sys.stderr)
    try:
        if until_end:
            return server.serve_run(wait=wait, max_insns=args.max_insns)
        return server.serve(wait=wait)
    finally:
        server.close()


def _hv_config(args):
    """The HvConfig of a hypervisor run: IMAGE (one VM, described by --smp/--mem/--append as
    QEMU's guest is), or --vm/--config (each VM described by its spec; --smp/--mem size the
    board)."""
    from armvirt.hv.config import load_config, parse_vm_spec
    from armvirt.hv.launch import HvConfig, VMConfig
    if args.image or args.bios:
        cfg = HvConfig([VMConfig(args.image, mem=args.mem, vcpus=args.smp, append=args.append,
                                 load_addr=args.load_addr, initrd=args.initrd, dtb=args.dtb,
                                 bios=args.bios, pflash=args.pflash)])
        cfg.smp = args.smp
    else:
        cfg = load_config(args.config) if args.config else HvConfig([])
        cfg.vms += [parse_vm_spec(spec, i) for i, spec in enumerate(args.vm)]
        if args.smp_given:
            cfg.smp = args.smp
        if args.mem_given:
            cfg.mem = args.mem
    if args.hv:
        cfg.mode = args.hv
    from armvirt.loader import LoadError, refuse_unknown
    for vm in cfg.vms:     # the loader's strict rule, for what a user names on the command line
        if vm.image is None:
            continue       # a bios: any bytes are firmware
        try:
            with open(vm.image, "rb") as f:
                head = f.read(4096)
        except OSError:
            continue       # the launch reports it
        try:
            refuse_unknown(str(vm.image), head, vm.kind, vm.load_addr)
        except LoadError as e:
            from armvirt.hv.launch import LaunchError
            raise LaunchError(f"VM {vm.name or vm.image}: {e}") from None
    return cfg


def _check_run_args(args) -> str | None:
    """Combinations argparse cannot express; the one-line complaint, or None."""
    if args.wait and not args.gdb:
        return "--wait needs --gdb"
    problem = _check_bios_args(args)
    if problem:
        return problem
    if args.bios and (args.vm or args.config):
        return "--bios is the one VM's firmware: with --vm/--config, give each VM its bios="
    if args.bare and args.bios:
        return None
    if args.bare:
        if args.vm or args.config or args.hv:
            return "--bare boots one IMAGE on the board: --hv, --vm and --config do not apply"
        if not args.image:
            return "the following arguments are required: IMAGE"
        return None
    if args.rtc is not None:
        return ("--rtc sets the board's PL031, which guests of the hypervisor do not see: "
                "use --bare")
    if not args.image and not args.bios and not args.vm and not args.config:
        return "the following arguments are required: IMAGE (or --vm/--config)"
    if args.image and (args.vm or args.config):
        return "give IMAGE, or the VMs with --vm/--config, not both"
    if args.el != 1:
        return "--el 2 needs --bare: guests of the hypervisor start at EL1"
    return None


def _check_bios_args(args) -> str | None:
    """--bios/--pflash combinations (run and debug)."""
    if args.pflash and not args.bios:
        return "--pflash needs --bios (it is the firmware's variable store, flash bank 1)"
    if not args.bios:
        return None
    if args.image:
        return "give IMAGE or --bios, not both (the firmware loads what it boots)"
    for option, value in (("--initrd", args.initrd), ("--load-addr", args.load_addr)):
        if value is not None:
            return f"{option} is for an IMAGE, not for --bios"
    if args.el_given and args.el != 2:
        return ("--bios starts the firmware at the highest EL (EL2 on the bare board), as "
                f"qemu -bios does: --el {args.el} does not apply")
    return None


def cmd_run(args) -> int:
    from armvirt import trace as tr
    from armvirt.debug.symbols import SymbolError, SymbolTable
    from armvirt.hv.launch import LaunchError
    from armvirt.loader import LoadError, load_bios, load_image, reboot_firmware
    from armvirt.machine import Machine, MachineError

    problem = _check_run_args(args)
    if problem:
        print(f"armvirt: {problem}", file=sys.stderr)
        return EXIT_USAGE

    def to_stdout(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def to_stderr(data: bytes) -> None:
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()

    if (args.trace_range or args.trace_vm) and "insn" not in args.trace and \
            "exc" not in args.trace:
        print("armvirt: --trace-range and --trace-vm filter --trace insn/exc", file=sys.stderr)
        return EXIT_USAGE
    if args.trace_vm and args.bare:
        print("armvirt: --trace-vm names a VM of the hypervisor: not with --bare",
              file=sys.stderr)
        return EXIT_USAGE
    outputs = _open_outputs({"--regs-json": args.regs_json, "--trace-file": args.trace_file})
    if outputs is None:
        return EXIT_USAGE
    perfetto = bool(args.trace_file) and args.trace_file.lower().endswith(".json")
    text_file = outputs.get("--trace-file") if args.trace_file and not perfetto else None
    text_kinds = set(args.trace) - {"unimp"} or ({"exc"} if text_file else set())
    kinds = set(args.trace) | ({"exc"} if args.trace_file else set())
    chrome = None
    namer = None        # names worlds and symbols under the hypervisor (set after launch)

    def text_out(line: str) -> None:
        if text_file is not None:
            text_file.write(line + "\n")
        else:
            print(line, file=sys.stderr)

    def sink(ev: tuple[int, ...]) -> None:
        if "exc" in text_kinds and (not args.trace_vm or namer is None or
                                    namer.world_of(ev).vm == args.trace_vm):
            text_out(tr.format_event(ev, namer))
        if chrome is not None:
            chrome.event(ev)

    hv_run = demux = None
    files: list = []
    try:
        if args.bare:
            m = Machine(ram_size=args.mem, smp=args.smp,
                        psci_conduit="hvc" if args.el == 1 and not args.bios else "smc",
                        rtc_epoch=args.rtc, uart=to_stdout, trace=kinds,
                        flash=bool(args.bios), profile=args.profile)
            if kinds:
                m.trace_sink = sink
            if args.bios:
                boot = load_bios(m, args.bios, pflash=args.pflash, bootargs=args.append,
                                 dtb_file=args.dtb)
            else:
                boot = load_image(m, args.image, load_addr=args.load_addr,
                                  bootargs=args.append, el=args.el, initrd=args.initrd,
                                  dtb_file=args.dtb, strict=True)
            symbols = SymbolTable.from_boot_info(boot) if args.gdb else None
        else:
            from armvirt.hv.console import ConsoleDemux, prefixed
            from armvirt.hv.launch import launch, plan
            cfg = _hv_config(args)
            planned = plan(cfg)
            sinks = {"hv": prefixed("hv", to_stderr)}
            for vm in planned.vms:
                if vm.cfg.output:
                    f = open(vm.cfg.output, "wb", buffering=0)
                    files.append(f)
                    sinks[vm.name] = f.write
                elif len(planned.vms) == 1:
                    sinks[vm.name] = to_stdout     # one VM: its output as the guest wrote it
                else:
                    sinks[vm.name] = prefixed(vm.name, to_stdout)
            demux = ConsoleDemux(sinks, to_stdout)
            m, hv_run = launch(cfg, uart=demux.feed, trace=kinds - {"insn", "mmu"},
                               profile=args.profile)
            if kinds:
                m.trace_sink = sink
            symbols = None
            if args.gdb or kinds - {"unimp"}:
                # Tagged by address space: the firmware's PA = VA and the guests' IPAs overlap.
                symbols = SymbolTable()
                symbols.add_elf(hv_run.firmware, space="hyp")
                for b in hv_run.boots:
                    if b is not None and b.kind == "elf":
                        symbols.add_elf(b.path, space="guest")
            if args.trace_vm and args.trace_vm not in [v.name for v in planned.vms]:
                raise LaunchError(f"--trace-vm {args.trace_vm}: no such VM (VMs: "
                                  f"{', '.join(v.name for v in planned.vms)})")
    except (LoadError, MachineError, SymbolError, LaunchError, OSError) as e:
        print(f"armvirt: {e}", file=sys.stderr)
        for f in files:
            f.close()
        _discard_outputs(outputs)
        return EXIT_USAGE
    worlds = None
    if hv_run is not None and symbols is not None:
        from armvirt.worlds import EventNamer, Worlds
        worlds = Worlds(m, symbols.lookup("pcpus"))
        namer = EventNamer(worlds, symbols)
    elif args.bare and kinds - {"unimp"}:
        from armvirt.worlds import EventNamer, Worlds
        symbols = symbols or SymbolTable.from_boot_info(boot)
        worlds = Worlds(m)
        namer = EventNamer(worlds, symbols)
    if "mmu" in args.trace:
        from armvirt.debug.itrace import MmuFaultTracer
        MmuFaultTracer(m, text_out, symbols=symbols, worlds=worlds).install()
    if perfetto:   # streamed as the run goes: no run is too long to trace
        chrome = tr.ChromeTrace.write_to(outputs["--trace-file"], smp=m.smp,
                                         cpu_hz=m.profile.cpu_hz,
                                         namer=namer if hv_run is not None else None)
    from armvirt.console import ConsoleQuit, StdinConsole
    # What is typed goes to the board's PL011 (under the hypervisor: on to the first VM's,
    # through the firmware: firmware/host/mmio.S).
    console = StdinConsole(0)
    m.uart_source, m.uart_source_waits = console.read, console.waits
    m.stuck_sink = lambda line: print(f"armvirt: {line}", file=sys.stderr, flush=True)
    timer = None
    if args.exit_timing:
        from armvirt.hv.exittiming import attach
        timer = attach(m)
    try:
        if console is not None:
            console.__enter__()
        if args.gdb:   # sessions until the run ends; the guest runs on between them (QEMU)
            served = _serve_gdb(m, args, symbols, wait=args.wait, until_end=True)
            if served is None:
                _discard_outputs(outputs)
                return EXIT_USAGE
            if served.reason == "kill":
                print("armvirt: killed from gdb", file=sys.stderr)
                _discard_outputs(outputs)
                return EXIT_GUEST
            info = served.exit
        elif "insn" in args.trace:
            from armvirt.debug.itrace import InsnTracer
            tracer = InsnTracer(m, text_out, symbols=symbols, worlds=worlds,
                                ranges=args.trace_range, vm=args.trace_vm)
            info = tracer.run(args.max_insns)
        else:
            info = m.run(args.max_insns)
            done = info.instructions
            while info.reason == "system_reset" and args.bios:
                # QEMU resets the board and the firmware starts again from flash, its
                # variable store (bank 1) and RAM kept.
                m.system_reset()
                reboot_firmware(m, boot)
                left = None if args.max_insns is None else args.max_insns - done
                if left is not None and left <= 0:
                    info = m.run(0)
                    break
                info = m.run(left)
                done += info.instructions
            info.instructions = done
    except KeyboardInterrupt:
        if console is not None:
            console.restore()
        print("\narmvirt: interrupted", file=sys.stderr)
        _discard_outputs(outputs)
        return 130
    except ConsoleQuit:
        if console is not None:
            console.restore()
        print("\narmvirt: quit (Ctrl-A x)", file=sys.stderr)
        _discard_outputs(outputs)
        return EXIT_OK
    finally:
        if console is not None:
            console.restore()
        if demux is not None:
            from armvirt.hv.launch import unsent_output
            demux.flush(unsent_output(m, hv_run))
        if hv_run is not None:
            from armvirt.hv.launch import save_flash
            save_flash(m, hv_run)
        for f in files:
            f.close()
    if "unimp" in args.trace:
        print(tr.format_unimp(m.unimplemented_report()), file=sys.stderr)
    if timer is not None:
        print(f"exit timing (cycles, profile {m.profile.name}):", file=sys.stderr)
        print(timer.format(), file=sys.stderr)
    if args.regs_json:
        with outputs["--regs-json"] as f:
            json.dump(regs_snapshot(m), f, indent=1)
    if chrome is not None:
        with outputs["--trace-file"] as f:
            chrome.close_file(f, end_cycles={pe: m.reg("cycles", pe) for pe in range(m.smp)})
    elif text_file is not None:
        text_file.close()
    if hv_run is not None:
        return _hv_outcome(m, hv_run, info, args)
    if info.reason == "system_off":
        return EXIT_OK
    if info.reason == "system_reset":
        print("armvirt: the guest asked for a system reset; stopping", file=sys.stderr)
        return EXIT_OK
    return _stopped(info)


def _open_outputs(paths: dict[str, str | None]) -> dict | None:
    """Open every output file an option names, before anything runs, so that a path that
    cannot be written is refused at once (one line, exit 2) rather than after the run.
    Returns {option: open text file}; None when one failed (reported, nothing left behind)."""
    opened: dict = {}
    for option, path in paths.items():
        if not path:
            continue
        existed = os.path.lexists(path)
        try:
            f = open(path, "w", encoding="utf-8")
        except OSError as e:
            print(f"armvirt: {option}: cannot write {path}: {e.strerror or e}", file=sys.stderr)
            _discard_outputs(opened)
            return None
        f.armvirt_created = not existed   # type: ignore[attr-defined]
        opened[option] = f
    return opened


def _discard_outputs(opened: dict) -> None:
    """Close output files of a run that did not happen; remove the ones it created."""
    for f in opened.values():
        f.close()
        if getattr(f, "armvirt_created", False):
            try:
                os.unlink(f.name)
            except OSError:
                pass


def _stopped(info) -> int:
    """Exit status (and message) for a run that did not end with a power-off."""
    if info.reason == "budget":
        print(f"armvirt: instruction budget exhausted after {info.instructions} instructions "
              f"(PE{info.pe} at pc 0x{info.pc:x})", file=sys.stderr)
        return EXIT_BUDGET
    if info.reason == "internal":
        print(f"armvirt: emulator error on PE{info.pe} at pc 0x{info.pc:x}: {info.detail}",
              file=sys.stderr)
        return EXIT_EMULATOR
    print(f"armvirt: guest stopped ({info.reason}: {info.detail})", file=sys.stderr)
    return EXIT_GUEST


def _hv_outcome(m, hv_run, info, args) -> int:
    """Exit status of a hypervisor run, from the firmware's own account (the manifest)."""
    from armvirt.hv.launch import result
    res = result(m, hv_run)
    if args.exit_stats:
        print(format_exit_stats(res), file=sys.stderr)
    if res.state == "panic":
        p = res.panic or {}
        print(f"armvirt: the hypervisor panicked on PE{p.get('pe', 0)} (ESR 0x{p.get('esr', 0):x}, "
              f"ELR 0x{p.get('elr', 0):x})", file=sys.stderr)
        return EXIT_EMULATOR
    if info.reason in ("system_off", "system_reset") and res.state == "done":
        if res.ok:
            return EXIT_OK
        for v in res.vms:
            if v.state == "stopped by the hypervisor":
                print(f"armvirt: VM {v.name} was stopped by the hypervisor (ESR 0x{v.esr:x} "
                      f"at 0x{v.elr:x})", file=sys.stderr)
        return EXIT_GUEST
    return _stopped(info)


def format_exit_stats(res) -> str:
    """The per-vCPU exit counts, a table like KVM's exit statistics."""
    from armvirt.hv import abi
    cols = [n for n in abi.STAT_NAMES]
    head = f"{'VM':<16}{'vCPU':>5}{'PE':>4}{'exits':>8}" + "".join(f"{c:>8}" for c in cols)
    rows = [head]
    for vm in res.vms:
        for v in vm.vcpus:
            rows.append(f"{vm.name:<16}{v.index:>5}{v.pcpu:>4}{v.exits:>8}"
                        + "".join(f"{v.stats[c]:>8}" for c in cols))
    return "\n".join(rows)


def cmd_debug(args) -> int:
    from armvirt.debug.repl import Debugger, interact
    from armvirt.debug.symbols import SymbolError, SymbolTable
    from armvirt.hv.launch import LaunchError
    from armvirt.loader import LoadError, load_bios, load_image
    from armvirt.machine import Machine, MachineError

    script: list[tuple[str, str]] = args.script or []
    lines: list[str] = []
    problem = _check_bios_args(args)
    if problem is None and not args.image and not args.bios:
        problem = "the following arguments are required: IMAGE"
    if problem is None and args.bios and args.hv:
        problem = "--bios does not go with --hv: firmware boots on the bare board"
    if problem:
        print(f"armvirt: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for kind, value in script:
            if kind == "cmd":
                lines.append(value)
            elif value == "-":
                lines.extend(sys.stdin.read().splitlines())
            else:
                with open(value, encoding="utf-8") as f:
                    lines.extend(f.read().splitlines())
        if args.hv:
            if args.el != 1:
                raise LaunchError("--el 2 does not go with --hv: guests of the hypervisor "
                                  "start at EL1")
            if args.rtc is not None:
                raise LaunchError("--rtc sets the board's PL031, which guests of the "
                                  "hypervisor do not see")
            from armvirt.hv.launch import HvConfig, VMConfig, launch
            cfg = HvConfig([VMConfig(args.image, mem=args.mem, vcpus=args.smp,
                                     append=args.append, load_addr=args.load_addr,
                                     initrd=args.initrd, dtb=args.dtb)],
                           mode=args.hv, smp=args.smp)
            m, hv_run = launch(cfg, profile=args.profile)   # the debugger records
            # exceptions when it needs them
            boot = hv_run.boots[0]
            # The firmware runs at PA = VA 0x4000_0000 and so does the guest's IPA space:
            # tag both so the debugger symbolizes by the selected PE's world.
            symbols = SymbolTable()
            symbols.add_elf(hv_run.firmware, space="hyp")
            if boot is not None and boot.kind == "elf":
                symbols.add_elf(args.image, space="guest")
        else:
            m = Machine(ram_size=args.mem, smp=args.smp,
                        psci_conduit="hvc" if args.el == 1 and not args.bios else "smc",
                        rtc_epoch=args.rtc, flash=bool(args.bios), profile=args.profile)
            if args.bios:
                boot = load_bios(m, args.bios, pflash=args.pflash, bootargs=args.append,
                                 dtb_file=args.dtb)
                symbols = SymbolTable()
            else:
                boot = load_image(m, args.image, load_addr=args.load_addr,
                                  bootargs=args.append, el=args.el, initrd=args.initrd,
                                  dtb_file=args.dtb, strict=True)
                symbols = SymbolTable.from_boot_info(boot)
        for extra in args.symbols:
            symbols.add_elf(extra)
    except (LoadError, MachineError, SymbolError, LaunchError, OSError) as e:
        print(f"armvirt: {e}", file=sys.stderr)
        return EXIT_USAGE
    dbg = Debugger(m, symbols)
    if args.wait and not args.gdb:
        print("armvirt: --wait needs --gdb", file=sys.stderr)
        return EXIT_USAGE
    if args.gdb:
        served = _serve_gdb(m, args, symbols, wait=True)
        if served is None:
            return EXIT_USAGE
        if served.reason == "kill":
            return EXIT_OK
        # GDB detached: the REPL (or the script) carries on where GDB left the machine.
    if args.hv:
        print(f"armvirt debug: {args.image} ({boot.kind}) as a guest of the {args.hv} "
              f"hypervisor, guest entry 0x{boot.entry:x} (IPA), {m.smp} "
              f"PE{'s' if m.smp > 1 else ''}; PE0 at EL2 at the firmware's entry")
    else:
        print(f"armvirt debug: {args.image or args.bios} ({boot.kind}), entry "
              f"0x{boot.entry:x}, {m.smp} PE{'s' if m.smp > 1 else ''}, "
              f"{m.ram_size >> 20} MiB RAM; PE0 at EL{2 if args.bios else args.el}")
    print(dbg.where())
    sys.stdout.flush()
    if script:
        for line in lines:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            print(f"(armvirt) {line}")
            out = dbg.command(line)
            if out:
                print(out)
            sys.stdout.flush()
            if dbg.quit_requested:
                break
        return EXIT_OK
    print('Type "help" for the commands, "quit" to leave.')
    interact(dbg)
    return EXIT_OK


def cmd_dumpdtb(args) -> int:
    from armvirt.dtb import build_dtb, dump_dts
    from armvirt.machine import Machine, MachineError
    try:
        m = Machine(ram_size=args.mem, smp=args.smp,
                    psci_conduit="hvc" if args.el == 1 else "smc")
        blob = build_dtb(m, bootargs=args.append)
    except (MachineError, ValueError) as e:
        print(f"armvirt: {e}", file=sys.stderr)
        return EXIT_USAGE
    data = dump_dts(blob).encode() if args.dts else blob
    try:
        if args.output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with open(args.output, "wb") as f:
                f.write(data)
    except OSError as e:
        print(f"armvirt: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


class Terminated(Exception):
    """SIGTERM arrived during a run."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(f"armvirt: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command in ("run", "debug"):
        # Defaults filled in here, so that run can tell an explicit --smp/--mem (the board's,
        # with --vm/--config) from none.
        args.smp_given, args.mem_given = args.smp is not None, args.mem is not None
        args.smp = args.smp if args.smp_given else 1
        args.mem = args.mem if args.mem_given else DEFAULT_MEM
        args.el_given = args.el is not None
        args.el = args.el if args.el_given else 1
    if args.command == "run":
        # SIGTERM ends a run the way Ctrl-C does (the guest's output flushed, status 143),
        # not by killing the interpreter with the output still buffered.
        def terminate(signum, frame):
            raise Terminated()
        previous = signal.signal(signal.SIGTERM, terminate)
        try:
            return cmd_run(args)
        except Terminated:
            print("\narmvirt: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        finally:
            signal.signal(signal.SIGTERM, previous)
    if args.command == "debug":
        return cmd_debug(args)
    if args.command == "dumpdtb":
        return cmd_dumpdtb(args)
    if args.command == "bench":
        from armvirt.bench import cmd_bench
        return cmd_bench(args)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
