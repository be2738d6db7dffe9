"""The prometheus_textfile module: atomic write, mode, check mode, changed only when more
than the run time changes, run history carried over."""

import os
import stat

from prom_text import parse, value

from ansible_collections.kvmops.hypervisor.plugins.modules import prometheus_textfile
from module_runner import run_module

REPORT = {"rows": [{"section": "s", "area": "sysctl", "item": "vm.x", "status": "drifted"}],
          "facts_warnings": [], "plan_warnings": []}


def run(monkeypatch, args, check_mode=False):
    return run_module(monkeypatch, prometheus_textfile.main, args, check_mode=check_mode)


def test_writes_atomically_with_mode_0644(monkeypatch, tmp_path):
    directory = tmp_path / "textfile"
    old_umask = os.umask(0o077)
    try:
        outcome = run(monkeypatch, {"directory": str(directory), "report": REPORT, "playbook": "site"})
    finally:
        os.umask(old_umask)
    assert not outcome.failed and outcome.result["changed"]
    path = directory / "kvmops.prom"
    assert outcome.result["path"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(str(directory)) == ["kvmops.prom"]  # no temporary file left
    parsed = parse(path.read_text())
    assert value(parsed, "kvmops_drift_items") == 1
    assert value(parsed, "kvmops_last_run_success", playbook="site") == 1


def test_unchanged_but_rewritten_when_only_the_time_differs(monkeypatch, tmp_path):
    run(monkeypatch, {"directory": str(tmp_path), "report": REPORT})
    path = tmp_path / "kvmops.prom"
    text = path.read_text().replace("kvmops_last_run_timestamp_seconds{playbook=\"audit\"} ",
                                    "kvmops_last_run_timestamp_seconds{playbook=\"audit\"} 1")
    path.write_text(text)
    os.utime(str(path), (1, 1))
    outcome = run(monkeypatch, {"directory": str(tmp_path), "report": REPORT})
    assert not outcome.failed and not outcome.result["changed"]
    assert path.stat().st_mtime > 1  # rewritten: its mtime says when the audit last ran
    changed = run(monkeypatch, {"directory": str(tmp_path), "report": dict(REPORT, rows=[])})
    assert changed.result["changed"]


def test_check_mode_writes_nothing(monkeypatch, tmp_path):
    outcome = run(monkeypatch, {"directory": str(tmp_path / "d"), "report": REPORT}, check_mode=True)
    assert not outcome.failed and outcome.result["changed"]
    assert not (tmp_path / "d").exists()
    assert "kvmops_drift_items 1" in outcome.result["text"]


def test_failed_run_keeps_the_last_success(monkeypatch, tmp_path):
    run(monkeypatch, {"directory": str(tmp_path), "playbook": "site"})
    first = parse((tmp_path / "kvmops.prom").read_text())
    success = value(first, "kvmops_last_success_timestamp_seconds", playbook="site")
    run(monkeypatch, {"directory": str(tmp_path), "playbook": "audit"})
    run(monkeypatch, {"directory": str(tmp_path), "playbook": "site", "success": False})
    parsed = parse((tmp_path / "kvmops.prom").read_text())
    assert value(parsed, "kvmops_last_success_timestamp_seconds", playbook="site") == success
    assert value(parsed, "kvmops_last_run_success", playbook="site") == 0
    assert value(parsed, "kvmops_last_run_success", playbook="audit") == 1


def test_refuses_a_name_the_collector_would_not_read(monkeypatch, tmp_path):
    for name in ("kvmops.txt", "../x.prom", ".hidden.prom"):
        outcome = run(monkeypatch, {"directory": str(tmp_path), "filename": name})
        assert outcome.failed and "ending in .prom" in outcome.result["msg"]
