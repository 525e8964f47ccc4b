"""Everything is in pyproject.toml; this only adds the firmware and guest sources to the wheel.

``armvirt run`` builds the hypervisor (firmware/) and the demo guests (guests/) from source on
first use, so a wheel must carry them: they go in as ``armvirt/_data/{firmware,guests}``, where
``armvirt.build`` looks when there is no checkout around the package.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SOURCES = ("firmware", "guests")


class build_py_with_sources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install uses the checkout's own directories
        for d in SOURCES:
            shutil.copytree(HERE / d, Path(self.build_lib) / "armvirt" / "_data" / d,
                            dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.o", "*.elf", "*.bin"))


setup(cmdclass={"build_py": build_py_with_sources})
