# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kvmops_counts callback: what it counts as run on the host, per role and per task,
and the fact gatherings per play, from synthetic task results (real Host, Task and
TaskResult objects of ansible-core, results made up here), and the JSON it writes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from ansible.executor.task_result import TaskResult
from ansible.inventory.host import Host
from ansible.playbook.task import Task
import yaml
from ansible import constants as C

from ansible_collections.kvmops.hypervisor.plugins.callback import kvmops_counts
from ansible_collections.kvmops.hypervisor.plugins.callback.kvmops_counts import CallbackModule

NAME = "kvmops.hypervisor.kvmops_counts"


class Role(object):
    def __init__(self, name):
        self.name = name

    def get_name(self, include_role_fqcn=True):
        return self.name


class Play(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


def task(action, name=None, role=None, delegate_to=None):
    loaded = Task.load({"action": action, "name": name or action})
    loaded._role = Role(role) if role else None
    if delegate_to:
        loaded.delegate_to = delegate_to
    return loaded


def result(host, the_task, data):
    return TaskResult(Host(host), the_task, data, {})


@pytest.fixture
def callback():
    return CallbackModule()


def document(callback):
    return callback.counts.document()


def test_module_results_count_per_host_role_and_task(callback):
    callback.v2_playbook_on_play_start(Play("Tune"))
    sysctl = task("kvmops.hypervisor.sysctl_dropin", "Write the drop-in", role="kvmops.hypervisor.sysctl_net")
    files = task("kvmops.hypervisor.config_files", "Files", role="kvmops.hypervisor.hugepages")
    for host in ("h1", "h2"):
        callback.v2_runner_on_ok(result(host, sysctl, {"changed": False}))
    callback.v2_runner_on_failed(result("h1", files, {"failed": True, "msg": "no"}))
    doc = document(callback)
    assert doc["hosts"]["h1"]["remote"] == 2
    assert doc["hosts"]["h2"]["remote"] == 1
    assert doc["hosts"]["h1"]["roles"] == {"kvmops.hypervisor.sysctl_net": 1, "kvmops.hypervisor.hugepages": 1}
    assert doc["hosts"]["h1"]["tasks"] == {"kvmops.hypervisor.sysctl_net: Write the drop-in": 1,
                                           "kvmops.hypervisor.hugepages: Files": 1}
    assert doc["roles"] == {"kvmops.hypervisor.sysctl_net": 2, "kvmops.hypervisor.hugepages": 1}
    assert doc["plays"] == ["Tune"]


@pytest.mark.parametrize("action", ["ansible.builtin.set_fact", "debug", "ansible.builtin.assert", "meta",
                                    "ansible.builtin.set_stats", "ansible.builtin.validate_argument_spec",
                                    "ansible.builtin.include_role", "fail"])
def test_controller_only_actions_do_not_count(callback, action):
    callback.v2_playbook_on_play_start(Play("p"))
    callback.v2_runner_on_ok(result("h1", task(action, role="kvmops.hypervisor.plan"), {"changed": False}))
    assert document(callback)["hosts"]["h1"]["remote"] == 0
    assert document(callback)["roles"] == {}


def test_delegated_to_the_controller_does_not_count_elsewhere_does(callback):
    callback.v2_playbook_on_play_start(Play("p"))
    callback.v2_runner_on_ok(result("h1", task("ansible.builtin.command", delegate_to="localhost"), {}))
    callback.v2_runner_on_ok(result("h1", task("ansible.builtin.command", delegate_to="jumphost"), {}))
    assert document(callback)["hosts"]["h1"]["remote"] == 1
    assert document(callback)["hosts"]["h1"]["roles"] == {"(play)": 1}


def test_a_loop_counts_its_items_not_its_summary_and_skipped_items_not_at_all(callback):
    callback.v2_playbook_on_play_start(Play("p"))
    mount = task("ansible.posix.mount", "Mounts", role="kvmops.hypervisor.hugepages")
    callback.v2_runner_item_on_ok(result("h1", mount, {"changed": True, "item": 1}))
    callback.v2_runner_item_on_failed(result("h1", mount, {"failed": True, "item": 2}))
    callback.v2_runner_item_on_skipped(result("h1", mount, {"skipped": True, "item": 3}))
    callback.v2_runner_on_failed(result("h1", mount, {"failed": True, "results": [{}, {}, {"skipped": True}]}))
    assert document(callback)["hosts"]["h1"]["tasks"] == {"kvmops.hypervisor.hugepages: Mounts": 2}


def test_skipped_and_unreachable_results_cost_nothing(callback):
    callback.v2_playbook_on_play_start(Play("p"))
    sysfs = task("kvmops.hypervisor.sysfs_attr", role="kvmops.hypervisor.numa_pinning")
    callback.v2_runner_on_skipped(result("h1", sysfs, {"skipped": True}))
    callback.v2_runner_on_unreachable(result("h2", sysfs, {"unreachable": True}))
    assert document(callback)["hosts"] == {}


def test_host_plan_counts_only_when_it_gathered_facts_on_the_host(callback):
    callback.v2_playbook_on_play_start(Play("Tune"))
    plan = task("kvmops.hypervisor.host_plan", "Plan", role="kvmops.hypervisor.tuned")
    callback.v2_runner_on_ok(result("h1", plan, {"ansible_facts": {"kvm_host_plan": {}}}))
    assert document(callback)["hosts"]["h1"] == {"remote": 0, "roles": {}, "tasks": {}, "facts": {}}
    callback.v2_runner_on_ok(result("h1", plan, {"ansible_facts": {"kvm_host_plan": {}, "kvm_host": {"cpu": {}}}}))
    assert document(callback)["hosts"]["h1"]["remote"] == 1
    assert document(callback)["hosts"]["h1"]["facts"] == {"Tune": 1}


def test_run_lock_counts_only_when_its_action_ran_the_module(callback):
    callback.v2_playbook_on_play_start(Play("site"))
    lock = task("kvmops.hypervisor.run_lock", "One kvmops run on this host at a time", role="kvmops.hypervisor.plan")
    for status in ("image-mode", "held-by-this-run", "not-taken"):
        callback.v2_runner_on_ok(result("h1", lock, {"status": status}))
    assert document(callback)["hosts"]["h1"]["remote"] == 0
    for status in ("acquired", "released", "not-held"):
        callback.v2_runner_on_ok(result("h1", lock, {"status": status}))
    assert document(callback)["hosts"]["h1"]["remote"] == 3


def test_fact_gatherings_are_counted_per_play(callback):
    callback.v2_playbook_on_play_start(Play("Tune"))
    callback.v2_runner_on_ok(result("h1", task("ansible.builtin.setup"), {"ansible_facts": {}}))
    callback.v2_runner_on_ok(result("h1", task("kvmops.hypervisor.kvm_host_facts"), {"ansible_facts": {}}))
    callback.v2_runner_on_ok(result("h2", task("ansible.builtin.gather_facts"), {"ansible_facts": {}}))
    callback.v2_playbook_on_play_start(Play("Closing audit"))
    callback.v2_runner_on_ok(result("h1", task("kvmops.hypervisor.kvm_host_facts"), {"ansible_facts": {}}))
    callback.v2_runner_on_ok(result("h1", task("kvmops.hypervisor.section_state"), {}))
    doc = document(callback)
    assert doc["hosts"]["h1"]["facts"] == {"Tune": 2, "Closing audit": 1}
    assert doc["hosts"]["h2"]["facts"] == {"Tune": 1}
    assert doc["hosts"]["h1"]["remote"] == 4  # every gathering ran on the host, and section_state


def configured(**direct):
    """The callback with its options read as Ansible reads them: the definitions from its
    DOCUMENTATION, then the environment and the direct values."""
    doc = yaml.safe_load(kvmops_counts.DOCUMENTATION)
    assert doc["name"] == NAME.rsplit(".", 1)[-1] and doc["type"] == CallbackModule.CALLBACK_TYPE
    C.config.initialize_plugin_configuration_definitions("callback", NAME, doc["options"])
    loaded = CallbackModule()
    loaded._load_name = NAME
    loaded.set_options(direct=direct or None)
    return loaded


def test_the_plugin_writes_its_json_where_it_is_told(tmp_path):
    assert CallbackModule.CALLBACK_NEEDS_ENABLED  # only when callbacks_enabled names it
    out = tmp_path / "counts.json"
    loaded = configured(output=str(out))
    loaded.v2_playbook_on_play_start(Play("Tune"))
    loaded.v2_runner_on_ok(result("h1", task("ansible.builtin.ping"), {"ping": "pong"}))
    loaded.v2_playbook_on_stats(None)
    assert json.loads(out.read_text()) == {
        "plays": ["Tune"], "roles": {"(play)": 1},
        "hosts": {"h1": {"remote": 1, "roles": {"(play)": 1}, "tasks": {"(play): ansible.builtin.ping": 1},
                         "facts": {}}}}


def test_the_output_comes_from_the_environment(tmp_path, monkeypatch):
    out = tmp_path / "from-env.json"
    monkeypatch.setenv("KVMOPS_COUNTS_FILE", str(out))
    loaded = configured()
    loaded.v2_playbook_on_stats(None)
    assert json.loads(out.read_text()) == {"plays": [], "roles": {}, "hosts": {}}


def test_without_an_output_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KVMOPS_COUNTS_FILE", raising=False)
    loaded = configured()
    loaded.v2_runner_on_ok(result("h1", task("ansible.builtin.ping"), {}))
    loaded.v2_playbook_on_stats(None)
    assert os.listdir(str(tmp_path)) == []
