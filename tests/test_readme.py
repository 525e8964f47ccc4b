"""The README is true: every shell command and Python block in it runs as written, in a
checkout after `make run` (the guests built, armvirt installed in .venv), and the debugger
transcript is what `armvirt debug` prints. Commands that need a file the reader brings (a
kernel, a raw binary) say "needs your own" and are skipped; `make ...` lines are the set-up
itself (and `make test` is this suite)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)


def blocks(lang: str) -> list[tuple[str | None, str]]:
    return [(m["file"], m["body"]) for m in BLOCK.finditer(README) if m["lang"] == lang]


def shell_commands() -> list[str]:
    out = []
    for _, body in blocks("sh"):
        for line in body.splitlines():
            cmd = line.split(" #")[0].strip()
            if not cmd or cmd.startswith("make ") or "needs your own" in line:
                continue
            out.append(cmd)
    return out


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A directory that looks like the checkout after `make run`: .venv (the environment running
    these tests), build/ (the guests), the files the README writes (vms.toml)."""
    from armvirt.build import build_guests
    build_guests()
    d = tmp_path_factory.mktemp("readme")
    (d / ".venv").symlink_to(Path(sys.executable).resolve().parent.parent
                             if not (ROOT / ".venv/bin/armvirt").exists() else ROOT / ".venv")
    (d / "build").symlink_to(ROOT / "build")
    for name, body in blocks("toml"):
        if name:
            (d / name).write_text(body)
    return d


def run(cmd, cwd, timeout=600):
    env = {**os.environ, "ARMVIRT_COMPILE_PROGRESS": "0"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_readme_has_commands_and_marks_the_ones_it_cannot_run():
    cmds = shell_commands()
    assert len(cmds) >= 8 and all(c.startswith(".venv/bin/") for c in cmds), cmds
    assert README.count("needs your own") >= 2


@pytest.mark.parametrize("cmd", shell_commands())
def test_shell_command(clone, cmd):
    r = run(["bash", "-c", cmd], clone)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"


def test_python_blocks_in_order(clone):
    script = "\n\n".join(body for _, body in blocks("python"))
    r = run([sys.executable, "-c", script], clone)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Hello from armvirt!" in r.stdout
    assert "breakpoint 0x40000010" in r.stdout and "0x9000000 1 0x30d00800" in r.stdout
    assert "=> PA 0x40400010 via IPA 0x40200010  (8 descriptor reads)" in r.stdout


def test_debugger_transcript_is_what_armvirt_debug_prints(clone):
    """Run in the checkout itself: the debugger names source files relative to the directory
    it runs in (guests/hello.S)."""
    text = next(b for _, b in blocks("text") if b.startswith("$ .venv/bin/armvirt debug"))
    lines = text.splitlines()
    cmd = shlex.split(lines[0][2:])
    cmd[0] = str(clone / cmd[0])
    cmd += [a for ln in lines if ln.startswith("(armvirt) ") for a in ("-ex", ln[10:])]
    r = run(cmd, ROOT)
    got = r.stdout.splitlines()
    i = 0
    for want in lines[1:]:
        if want.strip() == "..." or want.startswith("(armvirt) "):
            continue
        while i < len(got) and got[i] != want:
            i += 1
        assert i < len(got), f"not printed (in order): {want!r}\n{r.stdout}"
