"""playbooks/site.yml leaves the reboot role out where nothing waits.

The include's `when` and the run record's `reboot_required` are read from site.yml and
evaluated as Ansible does (a Templar with the collection loader, in a child process: the
FQCN filter kvmops.hypervisor.boot_settled must resolve as in a play), over the states a
host can be in. The flag the condition reads is the one the plan role's handler sets.
"""

import os

import yaml
from ansible_eval import evaluate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def site_post_task(prefix):
    with open(os.path.join(ROOT, "playbooks", "site.yml")) as handle:
        play = yaml.safe_load(handle)[0]
    return next(task for task in play["post_tasks"] if task["name"].startswith(prefix))


def handler_flag():
    """The variable the handler of "kvmops boot config changed" sets."""
    with open(os.path.join(ROOT, "roles", "plan", "handlers", "main.yml")) as handle:
        handlers = yaml.safe_load(handle)
    setters = [h for h in handlers if h.get("listen") == "kvmops boot config changed"
               and "ansible.builtin.set_fact" in h]
    assert len(setters) == 1, "one set_fact handler listens to kvmops boot config changed"
    (name,) = setters[0]["ansible.builtin.set_fact"].keys()
    return name


def boot(reboot_required=False, regenerate_needed=False, backend="grub"):
    return {"kernel": {"boot": {"backend": backend, "owned_keys": ["isolcpus"], "pending_owned": ["isolcpus=2-3"],
                                "running_owned": ["isolcpus=2-3"] if not reboot_required else [],
                                "reboot_required": reboot_required, "regenerate_needed": regenerate_needed}}}


FLAG = handler_flag()
IMAGE = {"kvmops_apply_runtime": False}

# (what, variables, the role runs)
CASES = [
    ("converged host", {"kvm_host": boot()}, False),
    ("a role changed the boot configuration in this run", {"kvm_host": boot(), FLAG: True}, True),
    ("a reboot waits", {"kvm_host": boot(reboot_required=True)}, True),
    ("grub.cfg stale", {"kvm_host": boot(regenerate_needed=True)}, True),
    ("image mode: the running kernel is the build machine's", dict(IMAGE, kvm_host=boot(reboot_required=True)), False),
    ("image mode, grub.cfg stale", dict(IMAGE, kvm_host=boot(reboot_required=True, regenerate_needed=True)), True),
    ("image mode, a role changed the boot configuration", dict(IMAGE, kvm_host=boot(), **{FLAG: True}), True),
    ("facts without boot (cannot tell)", {"kvm_host": {"kernel": {"boot": None}}}, True),
    ("facts of an older collection", {"kvm_host": {"kernel": {}}}, True),
    ("no facts", {}, True),
    ("another backend asked for", {"kvm_host": boot(), "kvmops_kernel_cmdline_backend": "grubby"}, True),
    ("the facts' backend asked for", {"kvm_host": boot(), "reboot_kernel_cmdline_backend": "grub"}, False),
    ("the role's backend overrides the collection's", {"kvm_host": boot(), "kvmops_kernel_cmdline_backend": "grub",
                                                       "reboot_kernel_cmdline_backend": "kernel_cmdline_file"}, True),
]


def test_the_reboot_role_runs_only_where_something_waits():
    task = site_post_task("Reboot where owned kernel arguments wait")
    assert task["ansible.builtin.include_role"]["name"] == "kvmops.hypervisor.reboot"
    got = evaluate([("when", task["when"], variables) for _what, variables, _runs in CASES])
    assert dict(zip([c[0] for c in CASES], got)) == dict((what, runs) for what, _v, runs in CASES)


def test_the_run_record_takes_reboot_required_from_the_facts_where_the_role_was_left_out():
    task = site_post_task("Keep this host's part of the run summary")
    expression = task["ansible.builtin.set_fact"]["__kvmops_run"]["reboot_required"]
    cases = [
        ("the role ran", {"ansible_facts": {"kvmops_reboot_required": True}, "kvm_host": boot()}, True),
        ("the role ran, nothing waits", {"ansible_facts": {"kvmops_reboot_required": False},
                                         "kvm_host": boot(reboot_required=True), FLAG: True}, False),
        ("left out, converged", {"ansible_facts": {}, "kvm_host": boot()}, False),
        ("left out in image mode", {"ansible_facts": {}, "kvm_host": boot(reboot_required=True)}, True),
        ("changed, then left out by --tags", {"ansible_facts": {}, "kvm_host": boot(), FLAG: True}, None),
        ("facts cannot tell", {"ansible_facts": {}, "kvm_host": {"kernel": {"boot": None}}}, None),
    ]
    got = evaluate([("template", expression, variables) for _what, variables, _value in cases])
    assert dict(zip([c[0] for c in cases], got)) == dict((what, value) for what, _v, value in cases)
