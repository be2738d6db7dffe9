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
    lock, plan, keep = tasks("roles", "plan", "tasks", "prologue.yml")
    assert lock["ansible.builtin.include_tasks"]["file"] == "lock.yml"
    assert holds(lock["when"], variables) == lock_to_take
    assert holds(plan["when"], variables) == section_to_plan
    assert keep["ansible.builtin.set_fact"] == {"kvm_host_plan": "{{ __kvmops_plan_result['kvm_host_plan'] }}"}


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


ROLES = ["plan", "numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost",
         "seccomp_sandbox", "tuned"]
ALL_SECTIONS = ["numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost",
                "seccomp_sandbox", "tuned"]


@pytest.mark.parametrize("role", ROLES)
def test_a_role_is_its_prologue_then_its_steps_and_site_yml_imports_the_steps(role):
    main = tasks("roles", role, "tasks", "main.yml")
    if role == "tuned":  # its section after the others (tasks/plan.yml), part of its prologue
        assert main[1]["ansible.builtin.include_tasks"]["file"] == "plan.yml"
        main = main[:1] + main[2:]
    assert len(main) == 2
    prologue = main[0].get("ansible.builtin.import_tasks") or main[0]["ansible.builtin.import_role"]["tasks_from"]
    assert prologue == "check.yml"
    assert main[1]["ansible.builtin.import_tasks"] == "steps.yml"
    steps = tasks("roles", role, "tasks", "steps.yml")
    assert not any(task.get("ansible.builtin.import_role", {}).get("tasks_from") == "check.yml" for task in steps)
    site = tasks("playbooks", "site.yml")[0]
    imports = [task["ansible.builtin.import_role"] for task in site["tasks"]
               if task.get("ansible.builtin.import_role", {}).get("name") == "kvmops.hypervisor." + role]
    assert imports == [{"name": "kvmops.hypervisor." + role, "tasks_from": "steps.yml", "rolespec_validate": False}]


def pre_task(name_start):
    """(index, task) of the one pre_task of site.yml whose name starts so."""
    site = tasks("playbooks", "site.yml")[0]
    found = [task for task in site["pre_tasks"] if task["name"].startswith(name_start)]
    assert len(found) == 1, name_start
    return site["pre_tasks"].index(found[0]), found[0]


@pytest.mark.parametrize("live", [True, False])
def test_site_yml_takes_the_lock_after_every_check_on_a_live_host_only(live):
    """Last of the pre_tasks: a run the checks refuse leaves no lock behind (molecule/lab
    test_72_zfs), and the roles after it write under the lock."""
    index, lock = pre_task("One kvmops run on this host at a time")
    assert lock["ansible.builtin.import_role"]["tasks_from"] == "lock.yml"
    assert lock["tags"] == ["always"]
    assert index == len(tasks("playbooks", "site.yml")[0]["pre_tasks"]) - 1
    assert holds(lock["when"], {"kvmops_apply_runtime": live}) == live


@pytest.mark.parametrize("planned", [ALL_SECTIONS, ALL_SECTIONS[:-1], ALL_SECTIONS[1:], [], ["iommu"]])
def test_site_yml_plans_the_sections_left_out_by_the_roles_own_call(planned):
    index, left_out = pre_task("Plan the sections left out")
    plan_index = pre_task("Keep the plan as a host variable")[0]
    assert index == plan_index + 1
    assert left_out["ansible.builtin.include_role"]["name"] == "kvmops.hypervisor.tuned"
    assert left_out["ansible.builtin.include_role"]["tasks_from"] == "plan.yml"
    plan = dict((name, {"x": 1}) for name in planned)
    plan["housekeeping_cpus"] = [0]
    expected = not set(ALL_SECTIONS) <= set(planned)
    assert holds(left_out["when"], {"kvm_host_plan": plan}) == expected
    # the sections are the planner's, not a copy of this test's list: every applying
    # role's section (iommu, the plan role's own, is always in the planning task)
    from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import SECTIONS
    assert set(ALL_SECTIONS) == set(SECTIONS) - {"iommu"}
    assert all("'%s'" % name in left_out["when"] for name in ALL_SECTIONS)
    # tuned's plan.yml plans every other section not planned yet, then its own
    loop = tasks("roles", "tuned", "tasks", "plan.yml")[0]["loop"]
    assert all(name in loop for name in ALL_SECTIONS if name != "tuned")


def test_site_yml_drops_cached_facts_before_it_plans():
    """A fact cache (AWX's fact storage) restores an earlier run's kvm_host, complete, which
    host_plan would take as given; site.yml clears the facts before its planning task."""
    index, clear = pre_task("Start from this run's facts")
    assert clear["ansible.builtin.meta"] == "clear_facts"
    assert clear["tags"] == ["always"]
    plan_index = pre_task("Gather the facts once and plan")[0]
    assert index < plan_index
    site = tasks("playbooks", "site.yml")[0]
    assert not any("kvm_host" in str(task) for task in site["pre_tasks"][:index])
