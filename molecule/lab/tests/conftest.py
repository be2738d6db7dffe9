"""Shared fixtures of the lab scenario's testinfra tests."""

import json
import os
import subprocess
from pathlib import Path

import pytest

LAB_SH = Path(__file__).resolve().parents[3] / "tools" / "lab" / "lab.sh"


@pytest.fixture(scope="session")
def lab_run_dir():
    """The run directory molecule/lab/create.yml gave tools/lab/lab.sh up."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "lab"


@pytest.fixture(scope="session")
def shape(lab_run_dir):
    """The shape the lab host was booted with (written by tools/lab/lab.sh up)."""
    return json.loads((lab_run_dir / "shape.json").read_text())


@pytest.fixture(scope="session")
def lab(lab_run_dir, shape):
    """Run a tools/lab/lab.sh subcommand on this scenario's lab host."""

    def run(*args):
        env = dict(os.environ, KVMOPS_LAB_NAME=shape["name"], KVMOPS_LAB_RUN_DIR=str(lab_run_dir))
        subprocess.run([str(LAB_SH)] + list(args), env=env, check=True)

    return run
