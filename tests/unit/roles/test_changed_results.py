# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml's run summary learns whether the roles changed a host from their tasks'
registered results (the names its ``varnames`` pattern matches), not from a second read
of the host's state before the roles (docs/fleet.md). So every task of the roles that can
change the host must register its result under such a name: a new task that does not
would make a changed host count as unchanged. Read-only tasks (debug, assert, set_fact,
includes, the plan, the run lock, a command with ``changed_when: false``) are exempt, and
so is the reboot itself (the summary has ``rebooted``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
KEYWORDS = {"name", "when", "register", "loop", "loop_control", "notify", "tags", "vars", "changed_when",
            "failed_when", "check_mode", "become", "delegate_to", "run_once", "ignore_errors", "no_log",
            "block", "rescue", "always", "environment", "listen", "until", "retries", "delay", "args",
            "diff", "throttle"}
READ_ONLY = {"ansible.builtin.debug", "ansible.builtin.assert", "ansible.builtin.set_fact", "ansible.builtin.meta",
             "ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "ansible.builtin.include_role",
             "ansible.builtin.import_role", "ansible.builtin.validate_argument_spec",
             "kvmops.hypervisor.host_plan", "kvmops.hypervisor.run_lock", "kvmops.hypervisor.virt_host_validate",
             "kvmops.hypervisor.section_state"}
# the reboot and what follows it: the summary's "rebooted" says the host changed
EXEMPT_FILES = {"reboot/tasks/now.yml", "reboot/tasks/verify.yml"}


def summary_pattern():
    with open(os.path.join(ROOT, "playbooks", "site.yml")) as handle:
        text = handle.read()
    found = re.search(r"query\('ansible\.builtin\.varnames', '([^']+)'\)", text)
    assert found, "site.yml's run summary no longer collects the roles' results with varnames"
    return re.compile(found.group(1))


def tasks_of(items):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            yield from tasks_of(task.get(key))
        if not any(key in task for key in ("block", "rescue", "always")):
            yield task


def changing_tasks():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))):
        rel = os.path.relpath(path, os.path.join(ROOT, "roles"))
        if rel in EXEMPT_FILES:
            continue
        with open(path) as handle:
            tasks = yaml.safe_load(handle)
        for task in tasks_of(tasks):
            action = [key for key in task if key not in KEYWORDS]
            assert len(action) == 1, (rel, task.get("name"), action)
            if action[0] in READ_ONLY or task.get("changed_when") is False:
                continue
            found.append((rel, task.get("name"), action[0], task.get("register")))
    return found


def test_the_roles_have_changing_tasks_to_check():
    names = {(rel, action) for rel, _name, action, _register in changing_tasks()}
    # the oracle knows these by hand: if the scan found none, it would prove nothing
    assert ("sysctl_net/tasks/steps.yml", "kvmops.hypervisor.section_apply") in names
    assert ("zfs_storage/tasks/snapshots.yml", "ansible.builtin.package") in names
    assert ("reboot/tasks/main.yml", "kvmops.hypervisor.kernel_cmdline") in names


@pytest.mark.parametrize("rel, name, action, register", changing_tasks(),
                         ids=lambda value: value if isinstance(value, str) and "/" in value else None)
def test_every_changing_task_registers_its_result_for_the_run_summary(rel, name, action, register):
    assert register and summary_pattern().match(register), (
        "%s: task %r (%s) can change the host but registers %r, which site.yml's run summary does not "
        "collect: register it as __kvmops_changed_<role>_<what>" % (rel, name, action, register))
