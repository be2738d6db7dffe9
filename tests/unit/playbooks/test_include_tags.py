# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A dynamic include's tags select the include task, not the tasks it loads: with
``--tags reboot`` (the AWX "KVM hosts: reboot window" template) an include_role tagged
reboot ran and every task of the role was skipped, so nothing was rebooted. Every tagged
include in the playbooks must pass its tags on with ``apply``.

Checked twice: statically over playbooks/*.yml, and by running ansible-playbook --tags on
a playbook built the same way (the oracle: what ansible-core does, not what we think)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOKS = os.path.join(ROOT, "playbooks")
INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.include_tasks", "include_role", "include_tasks")


def tasks_of(play):
    for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
        for task in play.get(key) or []:
            yield task
            for inner in ("block", "rescue", "always"):
                yield from task.get(inner) or []


def tagged_includes():
    found = []
    for name in sorted(os.listdir(PLAYBOOKS)):
        if not name.endswith(".yml"):
            continue
        with open(os.path.join(PLAYBOOKS, name)) as handle:
            plays = yaml.safe_load(handle) or []
        for play in plays if isinstance(plays, list) else []:
            for task in tasks_of(play):
                for module in INCLUDES:
                    if module in task and task.get("tags"):
                        found.append((name, task["name"], task["tags"], (task[module] or {}).get("apply") or {}))
    return found


def test_site_has_tagged_includes_to_check():
    assert [found[0] for found in tagged_includes()].count("site.yml") >= 3


@pytest.mark.parametrize("playbook, task, tags, apply", tagged_includes())
def test_every_tagged_include_applies_its_tags(playbook, task, tags, apply):
    assert apply.get("tags") == tags, "%s: %r" % (playbook, task)


def test_ansible_runs_the_included_tasks_only_with_apply(tmp_path):
    role = tmp_path / "roles" / "r" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("- name: inner\n  ansible.builtin.debug:\n    msg: INNER-RAN\n")
    (tmp_path / "p.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "plain", "ansible.builtin.include_role": {"name": "r"}, "tags": ["reboot"]},
        {"name": "applied", "ansible.builtin.include_role": {"name": "r", "apply": {"tags": ["reboot"]}},
         "tags": ["reboot"]}]}]))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "p.yml", "--tags",
                           "reboot", "-i", "localhost,", "-c", "local"], cwd=str(tmp_path), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # only the include with apply ran the role's task
    assert proc.stdout.count("INNER-RAN") == 1, proc.stdout
    assert proc.stdout.index("INNER-RAN") > proc.stdout.index("TASK [applied]"), proc.stdout


def test_a_roles_own_include_tasks_runs_under_the_roles_tags(tmp_path):
    """The roles include their runtime-only tasks (tasks/runtime.yml) with a plain
    include_tasks: the tasks it loads inherit the tags the role got (from ``roles:`` in
    site.yml, or from include_role's apply for the reboot role), so --tags <role> runs them."""
    role = tmp_path / "roles" / "r" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("- name: include\n  ansible.builtin.include_tasks:\n    file: runtime.yml\n")
    (role / "runtime.yml").write_text("- name: inner\n  ansible.builtin.debug:\n    msg: INNER-RAN\n")
    (tmp_path / "p.yml").write_text(yaml.safe_dump([
        {"hosts": "localhost", "gather_facts": False, "roles": [{"role": "r", "tags": ["t1"]}]},
        {"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "applied", "ansible.builtin.include_role": {"name": "r", "apply": {"tags": ["t2"]}},
             "tags": ["t2"]}]}]))
    runs = {}
    for tags in ("t1", "t2", "other"):
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "p.yml", "--tags",
                               tags, "-i", "localhost,", "-c", "local"], cwd=str(tmp_path), capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs[tags] = proc.stdout.count("INNER-RAN")
    assert runs == {"t1": 1, "t2": 1, "other": 0}
