"""The sysfs_attr module shell."""

import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.kvmops.hypervisor.plugins.modules import sysfs_attr

KSM = "/sys/kernel/mm/ksm/run"


class Exit(Exception):
    def __init__(self, kwargs, failed):
        Exception.__init__(self, kwargs.get("msg"))
        self.result = kwargs
        self.failed = failed


def run(monkeypatch, args, check_mode=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)

    def exit_json(self, **kwargs):
        raise Exit(kwargs, False)

    def fail_json(self, **kwargs):
        raise Exit(kwargs, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    with pytest.raises(Exit) as info:
        sysfs_attr.main()
    return info.value


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
