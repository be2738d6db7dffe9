"""Fixtures of the image scenario's tests. The shared code and the extra cases (each role
alone, all reversed, check mode, refusals) are in ../cases.py, which prepare.yml starts in
the background; the tests wait for its results (cases/results.json)."""

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("image_cases", Path(__file__).resolve().parent.parent / "cases.py")
image_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(image_cases)

WAIT = 900  # seconds for the background cases (they normally end soon after the converge)
SUMMARY = []


@pytest.fixture(scope="session")
def helpers():
    """../cases.py (the test modules cannot import it: pytest --import-mode=importlib)."""
    return image_cases


@pytest.fixture(scope="session")
def cases():
    """{name: Case} with the runs of each step, once the background cases are done."""
    results = image_cases.CASES / "results.json"
    pid_file = image_cases.CASES / "runner.pid"
    deadline = time.monotonic() + WAIT
    while not results.exists():
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        running = pid is not None and os.path.exists("/proc/%d" % pid)
        log = image_cases.CASES / "runner.log"
        if not running or time.monotonic() > deadline:
            pytest.fail("the extra cases (prepare.yml, cases.py) %s without results; %s:\n%s" % (
                "ended" if not running else "ran for %ds" % WAIT, log,
                log.read_text()[-3000:] if log.exists() else "(no log)"))
        time.sleep(1)
    data = json.loads(results.read_text())
    SUMMARY[:] = data["summary"]
    found = {}
    for name, steps in data["cases"].items():
        case = image_cases.Case(name)
        for step, run in steps.items():
            case.steps[step] = image_cases.Run.from_json(run)
            case.runs.append(case.steps[step])
        found[name] = case
    return found


@pytest.fixture(scope="session")
def site_files():
    """What the converge and idempotence runs of site.yml wrote into the instance."""
    return image_cases.written(image_cases.IMAGE, Path(str(image_cases.IMAGE) + ".stamp"))


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.write_sep("-", "extra cases (cases.py)")
        for line in SUMMARY:
            terminalreporter.write_line(line)
