"""Only for what pyproject.toml cannot say: the cffi extensions built at install time, and
evstack's manifests and configs copied into the wheel (docs/design/packaging.md)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# Top-level folders a wheel carries as `evstack/data/<folder>`, read through
# evstack.manifest.locate; the patterns are the files of each that belong to the product.
PACKAGED_DATA = {
    "interfaces": ("*.yaml",),
    "types": ("*.yaml",),
    "errors": ("*.yaml",),
    "config": ("*.yaml", "mosquitto/*.conf", "systemd/*"),
}


class BuildPyWithData(build_py):
    """build_py, plus the manifest tree and shipped configs as package data."""

    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "evstack" / "data"
        for folder, patterns in PACKAGED_DATA.items():
            for pattern in patterns:
                for source in sorted((here / folder).glob(pattern)):
                    if source.is_file():
                        destination = target / source.relative_to(here)
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(source, destination)


setup(
    cmdclass={"build_py": BuildPyWithData},
    cffi_modules=[
        "ext/pilot/build_pilot.py:ffibuilder",
        "ext/exi/build_exi.py:ffibuilder",
    ],
)
