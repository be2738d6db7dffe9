# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run_lock action as the roles' one prologue task (roles/plan/tasks/check.yml and
release.yml), run by ansible-playbook: the first role takes the lock with one module run,
the roles after it ask nothing of the host, the release is one module run; image mode
asks nothing at all. The host's Python is a wrapper that logs each start, so the count
is the host's own, not the plugin's word."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def run(tmp_path, tasks, extra=None, check=False):
    starts = tmp_path / "starts.log"
    wrapper = tmp_path / "python"
    wrapper.write_text("#!/bin/sh\necho start >> %s\nexec %s \"$@\"\n" % (starts, sys.executable))
    wrapper.chmod(0o755)
    (tmp_path / "p.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    extra = dict({"kvmops_lock_path": str(tmp_path / "run.lock"), "ansible_python_interpreter": str(wrapper)},
                 **(extra or {}))
    (tmp_path / "extra.yml").write_text(yaml.safe_dump(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "p.yml", "-i", "localhost,", "-c",
            "local", "-e", "@extra.yml"] + (["--check"] if check else [])
    done = subprocess.run(argv, cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False)
    count = len(starts.read_text().splitlines()) if starts.exists() else 0
    return done, count


def prologue(times):
    return [{"name": "prologue %d" % number, "ansible.builtin.include_role": {
        "name": "kvmops.hypervisor.plan", "tasks_from": "check.yml"}} for number in range(times)]


def release():
    return [{"name": "release", "ansible.builtin.include_role": {
        "name": "kvmops.hypervisor.plan", "tasks_from": "release.yml"}}]


def lock_exists(tmp_path):
    return [{"name": "lock file", "ansible.builtin.stat": {"path": str(tmp_path / "run.lock")}, "register": "lock"},
            {"name": "say", "ansible.builtin.debug": {"msg": "LOCK-EXISTS={{ lock.stat.exists }}"}}]


def test_three_roles_take_the_lock_with_one_module_run_and_release_it_with_one(tmp_path):
    done, count = run(tmp_path, prologue(3) + release())
    assert done.returncode == 0, done.stdout + done.stderr
    assert count == 2  # acquire once, release once
    assert not (tmp_path / "run.lock").exists()


def test_the_lock_is_held_between_the_roles_and_the_release(tmp_path):
    done, count = run(tmp_path, prologue(2) + lock_exists(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOCK-EXISTS=True" in done.stdout
    assert count == 2  # acquire, and the stat of the test itself


def test_image_mode_takes_no_lock_and_asks_nothing_of_the_host(tmp_path):
    done, count = run(tmp_path, prologue(3) + release(), {"kvmops_apply_runtime": False})
    assert done.returncode == 0, done.stdout + done.stderr
    assert count == 0
    assert not (tmp_path / "run.lock").exists()


def test_a_release_without_a_lock_asks_nothing(tmp_path):
    done, count = run(tmp_path, release())
    assert done.returncode == 0, done.stdout + done.stderr
    assert count == 0


def test_check_mode_writes_no_lock(tmp_path):
    done, count = run(tmp_path, prologue(2) + release(), check=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert count == 2 and not (tmp_path / "run.lock").exists()


def test_a_wrong_apply_runtime_fails_naming_the_variable(tmp_path):
    """The roles' argument validation refuses it first (below); the action checks it too."""
    lock = [{"name": "lock", "ansible.builtin.include_role": {"name": "kvmops.hypervisor.plan",
                                                              "tasks_from": "lock.yml"}}]
    done, count = run(tmp_path, lock, {"kvmops_apply_runtime": "maybe"})
    assert done.returncode != 0
    assert "kvmops_apply_runtime: must be a boolean" in done.stdout
    assert count == 0 and not (tmp_path / "run.lock").exists()


ROLES = ["numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost", "seccomp_sandbox",
         "tuned"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_refuses_wrong_collection_wide_variables_before_its_first_task(tmp_path, role):
    """check.yml's assert is gone: each role's argument validation (its first task) checks
    the collection-wide variables, so a wrong one fails before the role changes anything."""
    tasks = [{"name": "role", "ansible.builtin.include_role": {"name": "kvmops.hypervisor." + role}}]
    done, count = run(tmp_path, tasks, {"kvmops_reboot_allowed": "maybe", "kvmops_kernel_cmdline_backend": "lilo",
                                        "kvmops_apply_runtime": "sometimes"})
    assert done.returncode != 0
    assert "Validation of arguments failed" in done.stdout
    assert "argument 'kvmops_apply_runtime' is of type str" in done.stdout
    assert "argument 'kvmops_reboot_allowed' is of type str" in done.stdout
    assert "value of kvmops_kernel_cmdline_backend must be one of" in done.stdout
    assert count == 0  # nothing ran on the host
    assert not (tmp_path / "run.lock").exists()
