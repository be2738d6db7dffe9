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
    "nvme": [],
    "zfs": {"present": False},
    "libvirt": {"present": False, "networks": []},
    "daemons": {"units": {}, "libvirt": None, "libvirt_running": False},
    "domains": {"config_dir": False, "defined": []},
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
    assert "numa_pinning" not in host_plan  # no section asked for


def test_policy_from_kvmops_plan_variables_and_options_win():
    task_vars = {"ansible_facts": {"kvm_host": FACTS}, "kvmops_plan_isolation": "isolcpus",
                 "kvmops_plan_housekeeping_cores_per_node": 2}
    result = make_action({"sections": {"numa_pinning": {}}}).run(task_vars=task_vars)
    section = result["ansible_facts"]["kvm_host_plan"]["numa_pinning"]
    assert section["kernel_args"][0] == ["isolcpus", "domain,managed_irq,2-3,6-7"]
    result = make_action({"sections": {"numa_pinning": {}}, "housekeeping_cores_per_node": 1}).run(task_vars=task_vars)
    assert result["ansible_facts"]["kvm_host_plan"]["housekeeping_cpus"] == [0, 4]


def test_bad_policy_variable_fails_naming_the_option():
    """The message names what the operator set: the kvmops_plan_ variable when the option
    came from one (roles call host_plan with sections only), the option when given to the task."""
    task_vars = {"ansible_facts": {"kvm_host": FACTS}, "kvmops_plan_isolation": "total"}
    with pytest.raises(AnsibleActionFail, match="^kvmops_plan_isolation: value of isolation must be one of: "):
        make_action({"sections": {"numa_pinning": {}}}).run(task_vars=task_vars)
    with pytest.raises(AnsibleActionFail, match="^isolation: "):
        make_action({"isolation": "total"}).run(task_vars=task_vars)
    task_vars = {"ansible_facts": {"kvm_host": FACTS}, "kvmops_plan_housekeeping_cpus": "0,9",
                 "kvmops_plan_guests": [{"name": "db1", "vcpus": 64, "memory_mb": 1024}]}
    with pytest.raises(AnsibleActionFail, match=r"^kvmops_plan_housekeeping_cpus: CPU\(s\) 9 are not online"):
        make_action({}).run(task_vars=task_vars)
    del task_vars["kvmops_plan_housekeeping_cpus"]
    with pytest.raises(AnsibleActionFail, match=r"^kvmops_plan_guests\[db1\]\.vcpus: 64 vCPUs is larger"):
        make_action({}).run(task_vars=task_vars)


def test_bad_section_option_fails_naming_the_role_variable():
    with pytest.raises(AnsibleActionFail, match="^hugepages_swappiness: "):
        make_action({"sections": {"hugepages": {"swappiness": 300}}}).run(
            task_vars={"ansible_facts": {"kvm_host": FACTS}})
    with pytest.raises(AnsibleActionFail, match="^hugepages_thp: "):
        make_action({"sections": {"hugepages": {"thp": "sometimes"}}}).run(
            task_vars={"ansible_facts": {"kvm_host": FACTS}})


def test_missing_parts_are_gathered_on_the_host_and_returned():
    """A role run alone after another gathered only a subset (the old order bug): the
    action gathers the facts itself instead of failing on cpu.online."""
    action = make_action({"sections": {"sysctl_net": {}}})
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None):
        calls.append((module_name, module_args))
        return {"ansible_facts": {"kvm_host": dict((key, FACTS[key]) for key in module_args["gather_subset"])}}
    action._execute_module = execute_module
    nat = {"present": True, "networks": [{"name": "default", "forward_mode": "nat"}]}
    result = action.run(task_vars={"ansible_facts": {"kvm_host": {"libvirt": nat}}})
    # only the missing parts are gathered; the part given wins
    assert calls == [("kvmops.hypervisor.kvm_host_facts", {"gather_subset": ["cpu", "numa", "memory", "kernel", "nvme", "zfs", "daemons"]})]
    expected = dict(FACTS, libvirt=nat)
    del expected["domains"]  # only the numa_pinning section reads them
    assert result["ansible_facts"]["kvm_host"] == expected
    values = result["ansible_facts"]["kvm_host_plan"]["sysctl_net"]["sysctl"]["values"]
    assert values["net.ipv4.ip_forward"] == "1"
    assert "sysctl_net" in result["ansible_facts"]["kvm_host_plan"]


def test_complete_facts_are_not_gathered_again():
    action = make_action({"sections": {"sysctl_net": {}}})
    action._execute_module = MagicMock(side_effect=AssertionError("gathered"))
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert "kvm_host" not in result["ansible_facts"]


def test_sections_of_earlier_roles_are_kept_and_a_complete_plan_reused():
    first = make_action({"sections": {"numa_pinning": {}}}).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    earlier = first["ansible_facts"]["kvm_host_plan"]
    task_vars = {"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": earlier}}
    second = make_action({"sections": {"hugepages": {}}}).run(task_vars=task_vars)
    merged = second["ansible_facts"]["kvm_host_plan"]
    assert merged["numa_pinning"] == earlier["numa_pinning"]
    assert "hugepages" in merged
    # A plan that has the section asked for (passed in, or computed earlier) is used as it is.
    given = dict(earlier, housekeeping_cpus=[99])
    again = make_action({"sections": {"numa_pinning": {}}}).run(task_vars={"kvm_host_plan": given})
    assert again["ansible_facts"]["kvm_host_plan"]["housekeeping_cpus"] == [99]


def test_facts_option_wins_over_host_facts():
    other = dict(FACTS, cpu=dict(FACTS["cpu"], online=[0, 1], core_groups=[[0], [1]]),
                 numa={"nodes": [{"id": 0, "cpus": [0, 1], "memory_kb": 4 * 1024 * 1024}]})
    action = make_action({"facts": other, "isolation": "isolcpus"})
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert result["ansible_facts"]["kvm_host_plan"]["isolated_cpus"] == [1]


def test_check_mode_gives_the_same_plan():
    normal = make_action({}).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    check = make_action({}, check_mode=True).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert normal == check


def test_injected_fact_variable_is_found():
    assert find_facts(None, {"ansible_kvm_host": FACTS}) is FACTS
    assert find_facts(None, {"kvm_host": FACTS}) is FACTS
    assert find_facts(None, {}) is None


def test_missing_facts_fail_naming_facts():
    action = make_action({})
    action._execute_module = MagicMock(return_value={"ansible_facts": {}})
    with pytest.raises(AnsibleActionFail, match="^facts: no kvm_host facts"):
        action.run(task_vars={})


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
    # before: "facts: kvmops.hypervisor.kvm_host_facts failed: gather_subset: unknown subset"
    ({"refresh": ["sriov", "vfs"]}, r"^refresh: unknown part\(s\) 'vfs'; choose from cpu, numa, "),
])
def test_bad_options_fail_with_one_message_naming_the_option(args, text):
    with pytest.raises(AnsibleActionFail, match=text) as caught:
        make_action(args).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert len(str(caught.value.message).strip().splitlines()) == 1


def test_sriov_section_gathers_its_parts_and_refresh_recomputes():
    """The sriov_vhost section needs iommu, sriov and vhost (gathered only when it is asked
    for); refresh gathers the named parts again and recomputes the section although the plan
    already has it (the role does so after creating VFs, whose addresses it then needs)."""
    pf = {"name": "enp1s0", "address": "0000:01:00.0", "netdevs": ["enp1s0"], "mac": "52:54:00:12:34:57",
          "driver": "igb", "totalvfs": 7, "numvfs": 0, "autoprobe": True, "vfs": []}
    made = dict(pf, numvfs=1, vfs=[{"index": 0, "address": "0000:01:10.0", "driver": "vfio-pci",
                                    "driver_override": "vfio-pci", "domain": None, "vfio_open": False}])
    parts = {"iommu": {"enabled": True, "groups": 9, "interrupt_remapping": True}, "sriov": [pf],
             "vhost": {"vhost_net_loaded": True}}
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None):
        calls.append(module_args["gather_subset"])
        return {"ansible_facts": {"kvm_host": dict((key, parts[key]) for key in module_args["gather_subset"])}}
    options = {"pfs": [{"driver": "igb", "numvfs": 1, "vfs": [{"index": 0, "driver": "vfio-pci"}]}]}
    action = make_action({"sections": {"sriov_vhost": options}})
    action._execute_module = execute_module
    first = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert calls == [["iommu", "sriov", "vhost"]]
    plan = first["ansible_facts"]["kvm_host_plan"]
    assert plan["sriov_vhost"]["pfs"][0]["vfs"][0]["address"] is None
    parts["sriov"] = [made]
    again = make_action({"sections": {"sriov_vhost": options}, "refresh": ["sriov"]})
    again._execute_module = execute_module
    second = again.run(task_vars={"ansible_facts": {"kvm_host": first["ansible_facts"]["kvm_host"]},
                                  "kvm_host_plan": plan})
    assert calls[-1] == ["sriov"]
    assert second["ansible_facts"]["kvm_host"]["sriov"] == [made]
    assert second["ansible_facts"]["kvm_host_plan"]["sriov_vhost"]["pfs"][0]["vfs"][0]["address"] == "0000:01:10.0"
    # without refresh the plan computed earlier is returned as it is
    same = make_action({"sections": {"sriov_vhost": options}})
    same._execute_module = MagicMock(side_effect=AssertionError("gathered"))
    assert same.run(task_vars={"kvm_host_plan": plan})["ansible_facts"]["kvm_host_plan"] is plan


def test_numa_pinning_gathers_the_domains_and_refuses_a_domain_that_disagrees():
    """Issue 21: the numa_pinning role run alone gets kvm_host.domains (gathered by host_plan)
    and the plan is refused before any of its tasks writes."""
    host = dict(FACTS, libvirt={"present": True, "networks": []})
    del host["domains"]
    calls = []
    g2 = {"name": "g2", "uuid": None, "persistent": True, "state": "shutoff", "pid": None, "vcpus": 2,
          "memory_kib": 131072, "current_memory_kib": 131072, "hugepages": False, "numatune": None,
          "source": "/etc/libvirt/qemu/g2.xml"}

    def execute_module(module_name=None, module_args=None, task_vars=None):
        calls.append(module_args["gather_subset"])
        return {"ansible_facts": {"kvm_host": {"domains": {"config_dir": True, "defined": [g2]}}}}
    action = make_action({"sections": {"numa_pinning": {}}})
    action._execute_module = execute_module
    task_vars = {"ansible_facts": {"kvm_host": host}, "kvmops_plan_hugepage_size": "2M",
                 "kvmops_plan_guests": [{"name": "g2", "vcpus": 2, "memory_mb": 64}]}
    with pytest.raises(AnsibleActionFail, match=r"^kvmops_plan_guests\[g2\]\.memory_mb: domain g2 has 131072 KiB"):
        action.run(task_vars=task_vars)
    assert calls == [["domains"]]


def test_facts_for_gathers_every_named_sections_parts_once():
    """site.yml's first task names every role's section: one kvm_host_facts run with the
    union of the parts; each role's own call then finds them and gathers nothing."""
    every = ["numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost",
             "seccomp_sandbox", "tuned"]
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None):
        from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import SUBSETS
        calls.append(list(module_args["gather_subset"]))
        return {"ansible_facts": {"kvm_host": dict((key, {}) for name, key in SUBSETS
                                                   if name in module_args["gather_subset"])}}
    hardware = dict((key, FACTS[key]) for key in ("cpu", "numa", "memory"))
    action = make_action({"facts_for": every})
    action._execute_module = execute_module
    result = action.run(task_vars={"kvm_host": hardware})  # the fleet's host_vars hold the hardware part
    assert calls == [["kernel", "nvme", "zfs", "libvirt", "daemons", "domains", "security", "qemu", "iommu", "sriov", "vhost",
                      "tuned"]]
    gathered = result["ansible_facts"]["kvm_host"]
    assert gathered["cpu"] == FACTS["cpu"]  # the parts given win
    from ansible_collections.kvmops.hypervisor.plugins.action.host_plan import missing_parts
    for name in every:
        assert missing_parts(gathered, {name: {}}) == [], name
    # facts_for with every part there gathers nothing; a plan that has the section is reused
    earlier = result["ansible_facts"]["kvm_host_plan"]
    again = make_action({"facts_for": every, "sections": {"sysctl_net": {}}})
    again._execute_module = MagicMock(side_effect=AssertionError("gathered"))
    assert "kvm_host" not in again.run(task_vars={"kvm_host": gathered, "kvm_host_plan": earlier})["ansible_facts"]


def test_facts_for_with_a_part_missing_does_not_reuse_the_earlier_plan_blindly():
    earlier = make_action({"sections": {"numa_pinning": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})["ansible_facts"]["kvm_host_plan"]
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None):
        calls.append(list(module_args["gather_subset"]))
        return {"ansible_facts": {"kvm_host": {"tuned": {"installed": False}}}}
    action = make_action({"facts_for": ["tuned"], "sections": {"numa_pinning": {}}})
    action._execute_module = execute_module
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": earlier}})
    assert calls == [["tuned"]]
    assert result["ansible_facts"]["kvm_host"]["tuned"] == {"installed": False}


def test_facts_for_unknown_section_fails_naming_it():
    with pytest.raises(AnsibleActionFail, match=r"^facts_for: unknown section\(s\) 'numa'; choose from hugepages, "):
        make_action({"facts_for": ["numa"]}).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})


def test_facts_for_alone_keeps_a_plan_passed_in():
    """site.yml's first task only gathers: a plan passed in (inventory, extra vars) is used as
    it is, as every role's call uses it, not recomputed from the facts."""
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None):
        calls.append(list(module_args["gather_subset"]))
        return {"ansible_facts": {"kvm_host": {"tuned": {"installed": False}}}}
    given = {"housekeeping_cpus": [99], "numa_pinning": {"kernel_args": []}}
    action = make_action({"facts_for": ["tuned"]})
    action._execute_module = execute_module
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}, "kvm_host_plan": given})
    assert calls == [["tuned"]]
    assert result["ansible_facts"]["kvm_host_plan"] == given
    assert result["ansible_facts"]["kvm_host"]["tuned"] == {"installed": False}


def test_a_plan_that_is_the_hosts_fact_already_is_not_sent_back():
    """Every role's own call in site.yml finds the play's plan: nothing to return (a 20 kB
    fact per role and host is work for the controller); a plan passed in as a variable is
    still returned as the fact."""
    first = make_action({"sections": {"numa_pinning": {}}}).run(task_vars={"ansible_facts": {"kvm_host": FACTS}})
    plan_fact = first["ansible_facts"]["kvm_host_plan"]
    again = make_action({"sections": {"numa_pinning": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": plan_fact}})
    assert again["changed"] is False and "ansible_facts" not in again
    passed_in = make_action({"sections": {"numa_pinning": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}, "kvm_host_plan": plan_fact})
    assert passed_in["ansible_facts"]["kvm_host_plan"] == plan_fact


def test_as_fact_false_returns_the_plan_as_a_result_key_and_gathered_facts_as_facts():
    action = make_action({"sections": {"hugepages": {}}, "as_fact": False})
    action._execute_module = MagicMock(return_value={"ansible_facts": {"kvm_host": {"libvirt": FACTS["libvirt"]}}})
    partial = dict((key, value) for key, value in FACTS.items() if key != "libvirt")
    result = action.run(task_vars={"ansible_facts": {"kvm_host": partial}})
    assert "kvm_host_plan" not in result["ansible_facts"]
    assert result["ansible_facts"]["kvm_host"]["libvirt"] == FACTS["libvirt"]
    assert result["kvm_host_plan"]["hugepages"] == make_action({"sections": {"hugepages": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})["ansible_facts"]["kvm_host_plan"]["hugepages"]
    assert result["changed"] is False


def test_as_fact_false_with_complete_facts_returns_no_facts_at_all():
    result = make_action({"sections": {"sysctl_net": {}}, "as_fact": False}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})
    assert "ansible_facts" not in result
    assert "sysctl_net" in result["kvm_host_plan"]


def test_as_fact_false_returns_nothing_when_the_variable_holds_the_plan_asked_for():
    plan = make_action({"sections": {"numa_pinning": {}, "hugepages": {}}, "as_fact": False}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})["kvm_host_plan"]
    held = make_action({"sections": {"hugepages": {}}, "as_fact": False}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}, "kvm_host_plan": plan})
    assert "kvm_host_plan" not in held and "ansible_facts" not in held
    # the same plan held only as a fact (an earlier run's): planned afresh, for the caller's set_fact
    from_fact = make_action({"sections": {"hugepages": {}}, "as_fact": False}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": plan}})
    assert from_fact["kvm_host_plan"] is not plan and "ansible_facts" not in from_fact
    assert sorted(name for name in from_fact["kvm_host_plan"] if name in ("numa_pinning", "hugepages")) == ["hugepages"]
    # and as_fact true (the default) returns it as the fact when only the variable holds it
    as_fact = make_action({"sections": {"hugepages": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}, "kvm_host_plan": plan})
    assert as_fact["ansible_facts"]["kvm_host_plan"] is plan


def test_as_fact_false_only_gathering_returns_the_earlier_plan_and_the_facts():
    earlier = make_action({"sections": {"numa_pinning": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})["ansible_facts"]["kvm_host_plan"]
    action = make_action({"facts_for": ["tuned"], "as_fact": False})
    action._execute_module = MagicMock(return_value={"ansible_facts": {"kvm_host": {"tuned": {"installed": False}}}})
    result = action.run(task_vars={"ansible_facts": {"kvm_host": FACTS}, "kvm_host_plan": earlier})
    assert result["kvm_host_plan"] is earlier
    assert result["ansible_facts"] == {"kvm_host": dict(FACTS, tuned={"installed": False})}


def test_as_fact_false_never_reuses_a_plan_that_is_only_a_fact():
    """A kvm_host_plan fact under as_fact=false is a direct call's or a fact cache's from an
    earlier run (AWX's fact storage restores facts, and inject_facts_as_vars shows it as
    the variable too): planned from other facts or policy, so it is not reused."""
    stale = make_action({"sections": {"numa_pinning": {}}}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})["ansible_facts"]["kvm_host_plan"]
    stale = dict(stale, housekeeping_cpus=[99])
    for task_vars in ({"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": stale}},
                      {"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": stale}, "kvm_host_plan": stale}):
        result = make_action({"sections": {"numa_pinning": {}}, "as_fact": False}).run(task_vars=task_vars)
        assert result["kvm_host_plan"]["housekeeping_cpus"] != [99]
    # a variable set in this play (set_fact) next to a stale fact is the plan to reuse
    fresh = make_action({"sections": {"numa_pinning": {}}, "as_fact": False}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS}})["kvm_host_plan"]
    kept = make_action({"sections": {"numa_pinning": {}}, "as_fact": False}).run(
        task_vars={"ansible_facts": {"kvm_host": FACTS, "kvm_host_plan": stale}, "kvm_host_plan": fresh})
    assert "kvm_host_plan" not in kept
