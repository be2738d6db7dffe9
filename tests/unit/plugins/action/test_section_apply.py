# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The section_apply action plugin: the handlers of the steps that changed are notified,
and only those (ansible-playbook runs it, so a change of Ansible's notification plumbing,
which the plugin relies on, fails here)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kvmops.hypervisor.plugins.action.section_apply import check_notify_on, notifications

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
HANDLERS = [{"name": "files changed", "ansible.builtin.debug": {"msg": "HANDLER-FILES"}},
            {"name": "lines changed", "ansible.builtin.debug": {"msg": "HANDLER-LINES"}},
            {"name": "other", "ansible.builtin.debug": {"msg": "HANDLER-OTHER"}, "listen": "topic other"},
            {"name": "fstab changed", "ansible.builtin.debug": {"msg": "HANDLER-FSTAB"}}]


def test_notifications_follow_the_changed_steps_in_order_each_once():
    notify_on = {"files": "a", "lines": ["b", "a"], "sysctl": ["c"]}
    assert notifications(notify_on, ["files", "lines"]) == ["a", "b"]
    assert notifications(notify_on, ["kernel_cmdline"]) == []
    assert notifications(notify_on, []) == []


def playbook(tmp_path, tasks, check=False):
    (tmp_path / "p.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                                     "tasks": tasks, "handlers": HANDLERS}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "p.yml", "-i", "localhost,", "-c",
            "local", "-e", "ansible_python_interpreter=%s" % sys.executable] + (["--check"] if check else [])
    return subprocess.run(argv, cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False)


def task(root, files=None, lines=None, **extra):
    return dict({"name": "apply", "kvmops.hypervisor.section_apply": {
        "files": files or {}, "lines": lines or {}, "root": str(root),
        "notify_on": {"files": "files changed", "lines": "lines changed", "sysctl": ["topic other"]}}}, **extra)


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "root"
    (base / "etc" / "default").mkdir(parents=True)
    (base / "etc" / "default" / "irqbalance").write_text("#IRQBALANCE_BANNED_CPULIST=\n")
    return base


def test_only_the_handlers_of_the_changed_steps_run(tmp_path, root):
    files = {"/etc/kvmops-a.conf": "A\n"}
    lines = {"/etc/default/irqbalance": {"IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=1"}}
    # check mode: predicted, so notified (handlers run in check mode too), nothing written
    proc = playbook(tmp_path, [task(root, files=files)], check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HANDLER-FILES" in proc.stdout and "HANDLER-LINES" not in proc.stdout, proc.stdout
    assert not (root / "etc" / "kvmops-a.conf").exists()
    # files change, lines do not exist yet in the task: only the files handler
    proc = playbook(tmp_path, [task(root, files=files)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HANDLER-FILES" in proc.stdout and "HANDLER-LINES" not in proc.stdout, proc.stdout
    assert "HANDLER-OTHER" not in proc.stdout
    # files converged, the line changes: only the lines handler
    proc = playbook(tmp_path, [task(root, files=files, lines=lines)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HANDLER-LINES" in proc.stdout and "HANDLER-FILES" not in proc.stdout, proc.stdout
    # converged: no handler
    proc = playbook(tmp_path, [task(root, files=files, lines=lines)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HANDLER-" not in proc.stdout and "changed=0" in proc.stdout, proc.stdout


def test_notify_on_the_task_is_refused(tmp_path, root):
    proc = playbook(tmp_path, [task(root, files={"/etc/kvmops-a.conf": "A\n"}, notify="files changed")])
    assert proc.returncode != 0
    assert "give the handlers in notify_on, not notify" in proc.stdout, proc.stdout
    assert not (root / "etc" / "kvmops-a.conf").exists()


def test_unknown_step_in_notify_on_is_refused(tmp_path, root):
    bad = task(root)
    bad["kvmops.hypervisor.section_apply"]["notify_on"] = {"file": "files changed"}
    proc = playbook(tmp_path, [bad])
    assert proc.returncode != 0 and "notify_on: unknown step(s) 'file'" in proc.stdout, proc.stdout


def test_the_fstab_step_is_a_step_of_notify_on(tmp_path, root):
    check_notify_on({"fstab": "fstab changed", "lines": ["a"]})
    assert notifications({"fstab": "fstab changed", "lines": "a"}, ["fstab", "lines"]) == ["fstab changed", "a"]
    apply = {"name": "apply", "kvmops.hypervisor.section_apply": {
        "fstab": [{"path": "/dev/hugepages2M", "src": "hugetlbfs", "fstype": "hugetlbfs", "opts": "pagesize=2M"}],
        "root": str(root), "notify_on": {"fstab": "fstab changed", "lines": "lines changed"}}}
    proc = playbook(tmp_path, [apply])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HANDLER-FSTAB" in proc.stdout and "HANDLER-LINES" not in proc.stdout, proc.stdout
    assert (root / "etc" / "fstab").read_text() == "hugetlbfs /dev/hugepages2M hugetlbfs pagesize=2M 0 0\n"
    proc = playbook(tmp_path, [apply])
    assert proc.returncode == 0 and "HANDLER-" not in proc.stdout and "changed=0" in proc.stdout, proc.stdout
