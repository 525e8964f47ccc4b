"""Generated files are committed next to their generators: fail when they are stale."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["armvirt.gen_layout", "armvirt.isa.gen_decoder"])
def test_generated_file_is_current(module):
    r = subprocess.run([sys.executable, "-m", module, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, f"{module} output is stale: run `make gen`\n{r.stderr}"
