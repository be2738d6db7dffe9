# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_plan action plugin: option validation, where the facts come from, the result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.kvmops.hypervisor.plugins.action.host_plan import ActionModule, find_facts

FACTS = {
    "cpu": {"vendor": "GenuineIntel", "flags": {"pdpe1gb": True}, "online": list(range(8)),
            "core_groups": [[0, 4], [1, 5], [2, 6], [3, 7]]},
    "numa": {"nodes": [{"id": 0, "cpus": list(range(8)), "memory_kb": 16 * 1024 * 1024}]},
    "memory": {"hugepage_sizes_kb": [2048, 1048576]},
    "kernel": {"release": "6.1.0"},
}


def make_action(args, check_mode=False):
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.action = "kvmops.hypervisor.host_plan"
    connection = MagicMock()
    connection._shell.tmpdir = None
    action = ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    action._load_name = "kvmops.hypervisor.host_plan"
    return action


def test_facts_from_the_host_and_plan_returned():
    action = make_action({"isolation": "isolcpus"})
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert result["changed"] is False
    host_plan = result["ansible_facts"]["kvm_host_plan"]
    assert host_plan["housekeeping_cpus"] == [0, 4]
    assert host_plan["kernel_args"]["numa_pinning"][0] == ["isolcpus", "domain,managed_irq,1-3,5-7"]


def test_facts_option_wins_over_host_facts():
    other = dict(FACTS, cpu=dict(FACTS["cpu"], online=[0, 1], core_groups=[[0], [1]]),
                 numa={"nodes": [{"id": 0, "cpus": [0, 1], "memory_kb": 4 * 1024 * 1024}]})
    action = make_action({"facts": other})
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert result["ansible_facts"]["kvm_host_plan"]["isolated_cpus"] == [1]


def test_check_mode_gives_the_same_plan():
    normal = make_action({}).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    check = make_action({}, check_mode=True).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert normal == check


def test_injected_fact_variable_is_found():
    assert find_facts(None, {"ansible_kvm_host": FACTS}) is FACTS
    assert find_facts(None, {}) is None


def test_missing_facts_fail_naming_facts():
    with pytest.raises(AnsibleActionFail, match="^facts: no kvm_host facts"):
        make_action({}).run(task_vars={})


@pytest.mark.parametrize("args, text", [
    ({"isolation": "total"}, "isolation"),
    ({"housekeeping_cores_per_node": "one"}, "housekeeping_cores_per_node"),
    ({"hugepages_percent": 5, "hugepages_per_node": {"0": 1}}, "hugepages_percent|hugepages_per_node"),
    ({"colour": "blue"}, "colour"),
    ({"guests": [{"name": "a", "vcpus": 1, "memory_mb": 1, "ram": 5}]}, "ram"),
    ({"guests": [{"name": "a", "vcpus": "x", "memory_mb": 1}]}, "vcpus"),
    ({"housekeeping_cpus": "0,9"}, "^housekeeping_cpus: "),
    ({"hugepages_per_node": {"0": 99}}, "^hugepages_per_node: "),
    ({"guests": [{"name": "a", "vcpus": 1, "memory_mb": 1}, {"name": "a", "vcpus": 1, "memory_mb": 1}]},
     "^guests: duplicate"),
])
def test_bad_options_fail_with_one_message_naming_the_option(args, text):
    with pytest.raises(AnsibleActionFail, match=text) as caught:
        make_action(args).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert len(str(caught.value.message).strip().splitlines()) == 1
