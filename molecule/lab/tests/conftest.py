"""Shared fixtures of the lab scenario's testinfra tests."""

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shape():
    """The shape the lab host was booted with (written by tools/lab/lab.sh up)."""
    run_dir = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "lab"
    return json.loads((run_dir / "shape.json").read_text())
