"""Every host_plan call of the roles and playbooks keeps the plan as a host variable
(as_fact: false, then set_fact), never as a fact: a fact cache (AWX's fact storage) would
carry it to the next run, whose planning took it as its own (docs/contracts.md "Changed
deliberately in 0.3.0"). The set_fact's condition is evaluated
as Ansible evaluates it, on the results host_plan gives (tests/unit/plugins/action)."""

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MODULE = "kvmops.hypervisor.host_plan"


def task_lists(data):
    """Every list of tasks in a tasks file or playbook (plays' pre_tasks/tasks/post_tasks, blocks)."""
    if isinstance(data, list):
        if any(isinstance(item, dict) and ("hosts" in item or "import_playbook" in item) for item in data):
            for play in data:
                for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                    yield from task_lists(play.get(key) or [])
            return
        yield data
        for item in data:
            for key in ("block", "rescue", "always"):
                if isinstance(item, dict) and key in item:
                    yield from task_lists(item[key])


def calls():
    files = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    for path in files:
        with open(path) as handle:
            data = yaml.safe_load(handle)
        for tasks in task_lists(data or []):
            for index, task in enumerate(tasks):
                if isinstance(task, dict) and MODULE in task:
                    yield os.path.relpath(path, ROOT), tasks, index


CALLS = list(calls())


def holds(condition, variables):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    return Templar(loader=DataLoader(), variables=variables).evaluate_conditional(trust_as_template(condition))


def test_the_calls_are_found():
    # site.yml, audit.yml, the prologue, each role's plan.yml and sriov_vhost's vfs.yml
    places = set(call[0] for call in CALLS)
    assert {"playbooks/site.yml", "playbooks/audit.yml", "roles/plan/tasks/prologue.yml",
            "roles/sriov_vhost/tasks/vfs.yml", "roles/tuned/tasks/plan.yml"} <= places
    assert len(CALLS) >= 12


@pytest.mark.parametrize("path, tasks, index", CALLS, ids=["%s:%d" % (call[0], call[2]) for call in CALLS])
def test_each_call_keeps_the_plan_as_a_variable(path, tasks, index):
    call = tasks[index]
    assert call[MODULE].get("as_fact") is False, "%s: host_plan without as_fact: false" % path
    register = call.get("register")
    assert register, "%s: host_plan's result is not registered" % path
    keep = tasks[index + 1]
    assert keep.get("ansible.builtin.set_fact") == {"kvm_host_plan": "{{ %s['kvm_host_plan'] }}" % register}
    assert set(keep.get("tags") or []) == set(call.get("tags") or [])
    # kept when the call returned a plan; not when it was skipped or found the plan held
    returned = {"changed": False, "kvm_host_plan": {"housekeeping_cpus": [0]}}
    held = {"changed": False}
    skipped = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
    assert holds(keep["when"], {register: returned})
    assert not holds(keep["when"], {register: held})
    assert not holds(keep["when"], {register: skipped})
