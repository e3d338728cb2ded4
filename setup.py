"""Packages, plus ``conf/`` shipped as the data package ``twinemu_conf`` (configs and 1D
network files), so an installed ``twinemu`` runs outside a checkout.  Metadata lives in
pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["emulators*", "simulators*", "datasets*"])
    + ["twinemu_conf"],
    package_dir={"twinemu_conf": "conf"},
    package_data={"twinemu_conf": ["*.yaml", "**/*.yaml", "**/*.dat"]},
)
