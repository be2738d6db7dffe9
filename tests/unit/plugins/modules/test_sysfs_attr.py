"""The sysfs_attr module shell."""

import os


from ansible_collections.kvmops.hypervisor.plugins.modules import sysfs_attr
from module_runner import run_module

KSM = "/sys/kernel/mm/ksm/run"


def run(monkeypatch, args, check_mode=False):
    return run_module(monkeypatch, sysfs_attr.main, args, check_mode=check_mode)


def ksm(root, text=None):
    path = os.path.join(str(root), KSM.lstrip("/"))
    if text is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    with open(path) as handle:
        return handle.read()


def test_writes_and_diffs(monkeypatch, tmp_path):
    ksm(tmp_path, "1\n")
    outcome = run(monkeypatch, {"attributes": {KSM: 0}, "root": str(tmp_path)})
    assert not outcome.failed and outcome.result["changed"]
    assert ksm(tmp_path) == "0"
    assert outcome.result["diff"]["before"] == "%s = 1\n" % KSM


def test_check_mode(monkeypatch, tmp_path):
    ksm(tmp_path, "1\n")
    outcome = run(monkeypatch, {"attributes": {KSM: 0}, "root": str(tmp_path)}, check_mode=True)
    assert outcome.result["changed"] and ksm(tmp_path) == "1\n"


def test_missing_fails_by_default(monkeypatch, tmp_path):
    outcome = run(monkeypatch, {"attributes": {KSM: 0}, "root": str(tmp_path)})
    assert outcome.failed and "does not exist" in outcome.result["msg"]


def test_bad_path_fails(monkeypatch, tmp_path):
    outcome = run(monkeypatch, {"attributes": {"/etc/shadow": "x"}, "root": str(tmp_path)})
    assert outcome.failed and outcome.result["msg"].startswith("attributes:")
