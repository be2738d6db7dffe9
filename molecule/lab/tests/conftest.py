"""Shared fixtures of the lab scenario's testinfra tests."""

import json
import os
import subprocess
from pathlib import Path

import pytest

LAB_SH = Path(__file__).resolve().parents[3] / "tools" / "lab" / "lab.sh"

# The tests run ansible-playbook and read its output (PLAY RECAP's changed=, messages):
# plain text, whatever Molecule's own environment asks (it sets ANSIBLE_FORCE_COLOR, which
# wins over ANSIBLE_NOCOLOR; make exports 0, molecule run by hand does not).
os.environ["ANSIBLE_FORCE_COLOR"] = "0"
os.environ["ANSIBLE_NOCOLOR"] = "1"


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


def pytest_collection_modifyitems(items):
    """Tests marked ``extra`` (long flows whose outcome other tests or the scenario's own
    steps already cover in part) run only with KVMOPS_LAB_EXTRA=1: ``make lab-extra``.
    They keep ``make test`` under its time budget; they are not optional checks."""
    if os.environ.get("KVMOPS_LAB_EXTRA") == "1":
        return
    skip = pytest.mark.skip(reason="runs in make lab-extra (KVMOPS_LAB_EXTRA=1)")
    for item in items:
        if "extra" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lab_audit(tmp_path_factory):
    """One run of playbooks/audit.yml with the lab policy on the converged host, for the
    tests that only read its JSON report (each audit costs a minute of TCG). The first test
    that asks runs it, before any test changes the host. KVMOPS_LAB_AUDIT_DIR keeps the
    report (for a closing note, a bug report)."""
    scenario = Path(__file__).resolve().parents[1]
    out = Path(os.environ.get("KVMOPS_LAB_AUDIT_DIR") or tmp_path_factory.mktemp("audit"))
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(scenario.parents[1] / "playbooks" / "audit.yml"),
         "-e", "@%s" % (scenario / "vars" / "policy.yml"), "-e", "kvmops_audit_dir=%s" % out],
        env=dict(os.environ), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    reports = list(out.glob("*.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())
