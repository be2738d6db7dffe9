"""The roles' prologue (roles/plan/tasks/check.yml, prologue.yml) and site.yml's guard of
zfs_storage's preflight, their conditions evaluated as Ansible evaluates them: the include
runs exactly when there is a lock to take or a section to plan, and is one skipped task
otherwise (docs/fleet.md); site.yml's guard agrees with the condition of the task it guards."""

import itertools
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tasks(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def holds(conditions, variables):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    templar = Templar(loader=DataLoader(), variables=variables)
    if isinstance(conditions, str):
        conditions = [conditions]
    return all(templar.evaluate_conditional(trust_as_template(text)) for text in conditions)


LOCKED = {"locked": True, "run_id": "r1"}


def case(live, locked, section, planned):
    variables = {"kvmops_apply_runtime": live}
    if locked:
        variables["__kvmops_run_lock"] = LOCKED
    if section:
        variables["__kvmops_prologue_section"] = section
    if planned:
        variables["kvm_host_plan"] = {"sysctl_net": {"values": {}}, "iommu": {"kernel_args": []}}
    return variables


@pytest.mark.parametrize("live, locked, section, planned",
                         list(itertools.product([True, False], [True, False], ["sysctl_net", None], [True, False])))
def test_the_prologue_runs_only_for_a_lock_to_take_or_a_section_to_plan(live, locked, section, planned):
    include = tasks("roles", "plan", "tasks", "check.yml")[0]
    assert include["ansible.builtin.include_tasks"]["file"] == "prologue.yml"
    variables = case(live, locked, section, planned)
    lock_to_take = live and not locked
    section_to_plan = section is not None and not planned
    assert holds(include["when"], variables) == (lock_to_take or section_to_plan)
    # inside, each task runs for its own reason only
    lock, plan = tasks("roles", "plan", "tasks", "prologue.yml")
    assert lock["ansible.builtin.include_tasks"]["file"] == "lock.yml"
    assert holds(lock["when"], variables) == lock_to_take
    assert holds(plan["when"], variables) == section_to_plan


def test_a_section_planned_as_none_is_planned_again():
    plan = tasks("roles", "plan", "tasks", "prologue.yml")[1]
    variables = {"kvmops_apply_runtime": False, "__kvmops_prologue_section": "sysctl_net",
                 "kvm_host_plan": {"sysctl_net": None}}
    assert holds(plan["when"], variables)


@pytest.mark.parametrize("role", ["numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues",
                                  "sriov_vhost", "seccomp_sandbox"])
def test_each_role_names_its_own_section_and_plans_it_as_its_plan_yml_does(role):
    first = tasks("roles", role, "tasks", "main.yml")[0]
    assert first["ansible.builtin.import_role"] == {"name": "kvmops.hypervisor.plan", "tasks_from": "check.yml"}
    assert first["vars"] == {"__kvmops_prologue_section": role}
    own = tasks("roles", role, "tasks", "plan.yml")[0]["kvmops.hypervisor.host_plan"]["sections"]
    assert own == {role: "{{ __%s_options }}" % role}  # what the prologue looks up by name


@pytest.mark.parametrize("live, datasets", list(itertools.product([True, False], [[], [{"name": "tank/vm"}]])))
def test_site_yml_guards_the_zfs_preflight_with_the_condition_of_its_task(live, datasets):
    site = tasks("playbooks", "site.yml")[0]
    guard = [task for task in site["pre_tasks"]
             if task.get("ansible.builtin.include_role", {}).get("tasks_from") == "preflight.yml"][0]
    preflight = tasks("roles", "zfs_storage", "tasks", "preflight.yml")[0]
    plan = {"zfs_storage": {"datasets": datasets}}
    role_vars = {"__zfs_storage_apply_runtime": live, "__zfs_storage_section": plan["zfs_storage"]}
    variables = dict(role_vars, kvmops_apply_runtime=live, kvm_host_plan=plan)
    assert holds(guard["when"], variables) == holds(preflight["when"], variables) == (live and bool(datasets))
