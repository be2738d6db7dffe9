"""Static checks of the roles: every variable a role uses is in its argument spec, every
default in defaults/main.yml equals the spec's and the planner section's, roles decide no
value (vars/main.yml only passes variables through), every section with kernel arguments
has a role that applies it, and the README names every option.
"""

import os
import re

import pytest
import yaml

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import ARGUMENT_SPEC, TASK_OPTIONS
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import SECTIONS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = ("plan", "numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost", "seccomp_sandbox",
         "reboot")
APPLYING = ("numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost", "seccomp_sandbox")


def load(role, *parts):
    path = os.path.join(ROOT, "roles", role, *parts)
    with open(path) as handle:
        return handle.read()


def spec(role):
    return yaml.safe_load(load(role, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def role_files(role, subs=("tasks", "handlers", "vars", "templates")):
    found = []
    for sub in subs:
        folder = os.path.join(ROOT, "roles", role, sub)
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                found.append(os.path.join(folder, name))
    return found


def role_texts(role):
    texts = []
    for path in role_files(role):
        with open(path) as handle:
            texts.append(handle.read())
    return "\n".join(texts)


@pytest.mark.parametrize("role", ROLES)
def test_every_used_variable_is_in_the_spec(role):
    options = spec(role)
    used = set(re.findall(r"(?<![\w.])(?:%s|kvmops|kvm)_[a-z0-9_]+" % role, role_texts(role)))
    # Registered results, facts and the handler topics are not inputs.
    used -= {"kvm_host_facts", "kvm_host_plan_facts", "kvmops_reboot_required", "kvm_host_plan",
             "kvm_host", "sysctl_net_result"}
    plan_options = spec("plan")
    missing = sorted(name for name in used
                     if name not in options and not name.endswith("_")
                     and not (name.startswith("kvmops_") and name in plan_options))
    assert missing == []


@pytest.mark.parametrize("role", APPLYING)
def test_defaults_match_the_spec_and_the_planner(role):
    defaults = yaml.safe_load(load(role, "defaults", "main.yml"))
    options = spec(role)
    for name, value in defaults.items():
        assert name in options, name
        assert options[name].get("default") == value, name
    for name, option in options.items():
        if name.startswith(role + "_"):
            assert name in defaults, "%s has no default in defaults/main.yml" % name
            assert option.get("description"), name
    # Each section option: the role's default and choices are the planner's.
    for option, planner in SECTIONS[role].OPTIONS.items():
        name = "%s_%s" % (role, option)
        assert defaults.get(name) == planner.get("default"), name
        assert options[name].get("choices") == planner.get("choices"), name


@pytest.mark.parametrize("role", APPLYING)
def test_role_vars_pass_variables_through_and_decide_nothing(role):
    """vars/main.yml holds no decision: the section options are the role variables as they
    are, the section is the plan's, and the runtime flag is the collection's."""
    variables = yaml.safe_load(load(role, "vars", "main.yml"))
    options = variables.pop("__%s_options" % role)
    assert options == dict((name, "{{ %s_%s }}" % (role, name)) for name in SECTIONS[role].OPTIONS)
    assert variables.pop("__%s_section" % role) == "{{ kvm_host_plan['%s'] }}" % role
    assert variables.pop("__%s_apply_runtime" % role) == "{{ kvmops_apply_runtime | default(true) | bool }}"
    for name, value in variables.items():  # anything else is a constant (labels), no template
        assert "{{" not in yaml.safe_dump(value), name
    assert not os.path.isdir(os.path.join(ROOT, "roles", role, "templates"))


@pytest.mark.parametrize("role", APPLYING)
def test_role_tasks_use_only_their_section_and_switches(role):
    """No value is computed in a task: templates in tasks read the section, the runtime
    flag, the role's own how-switches (not planned values) or the collection's backend."""
    allowed = re.compile(r"^\{\{ (__%s_section(\['[a-z_]+'\])*|item\.[a-z]+|__%s_apply_runtime( \| ternary\(item\.[a-z]+, omit\))?"
                         r"|__%s_options|__%s_labels|%s_[a-z_]+|kvmops_kernel_cmdline_backend \| default\('auto'\)"
                         r"|__kvmops_plan_result\['kvm_host_plan'\]) \}\}$"
                         % (role, role, role, role, role))
    tasks = load(role, "tasks", "main.yml") + load(role, "tasks", "steps.yml") + load(role, "tasks", "plan.yml")
    for expression in re.findall(r"\{\{.*?\}\}", tasks):
        assert allowed.match(expression), expression
    for condition in re.findall(r"^\s+- (.*)$", tasks, re.M):
        if "{{" not in condition and "__" in condition:
            assert re.match(r"^(__%s_apply_runtime|__%s_section\['[a-z_]+'\] \| length > 0|ansible_facts\['services'\] is undefined)$"
                            % (role, role), condition), condition


def test_hugepages_image_mode_is_one_remote_module_run():
    """Issue 18: in image mode the role runs one module on the host, section_apply, which
    writes the hugetlbfs lines of /etc/fstab too (its fstab step); ansible.posix.mount
    runs on a live host only, to mount, and before section_apply writes libvirt's
    hugetlbfs_mount naming the mounts (roles/hugepages/tasks/steps.yml says why)."""
    tasks = yaml.safe_load(load("hugepages", "tasks", "steps.yml"))
    runtime = "__hugepages_apply_runtime"
    image = []
    for task in tasks:
        if any(key.startswith("ansible.builtin.import_") for key in task):
            continue
        if task.get("when") == runtime:
            continue
        # a loop over a list the planner leaves empty on a converged host runs nothing
        if task.get("loop") == "{{ __hugepages_section['services'] }}":
            continue
        image.append(task)
    assert [next(key for key in task if "." in key) for task in image] == ["kvmops.hypervisor.section_apply"]
    apply = image[0]["kvmops.hypervisor.section_apply"]
    assert apply["fstab"] == "{{ __hugepages_section['fstab'] }}"
    mounts = [task for task in tasks if "ansible.posix.mount" in task]
    assert [task["ansible.posix.mount"]["state"] for task in mounts] == ["mounted"]
    assert tasks.index(mounts[0]) < tasks.index(image[0])


def test_every_section_with_kernel_arguments_has_a_role_that_applies_it():
    """A plan with every option that adds kernel arguments on: each section that then has
    kernel arguments is applied by exactly one kernel_cmdline task (or kernel_cmdline step of
    a section_apply task) with its name as owner, in the role the section names (the audit
    would otherwise report them drifted for ever)."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import plan
    facts = {"cpu": {"vendor": "GenuineIntel", "flags": {"pdpe1gb": True}, "online": list(range(8)),
                     "core_groups": [[0, 4], [1, 5], [2, 6], [3, 7]]},
             "numa": {"nodes": [{"id": 0, "cpus": list(range(8)), "memory_kb": 16 * 1024 * 1024}]},
             "memory": {"hugepage_sizes_kb": [2048, 1048576]}, "kernel": {"release": "6.1.0"}}
    policy = {"iommu": True, "iommu_passthrough": True, "isolation": "isolcpus", "hugepages_percent": 10}
    sections = dict((name, {}) for name in SECTIONS)
    sections["nvme_queues"] = {"poll_queues": 1}
    result = plan(facts, policy, sections=sections)
    with_args = sorted(name for name in SECTIONS if result[name]["kernel_args"])
    assert with_args == ["hugepages", "numa_pinning", "nvme_queues", "sriov_vhost"]
    for name, module in SECTIONS.items():
        tasks = yaml.safe_load(load(module.ROLE, "tasks", "steps.yml"))
        owners = [task["kvmops.hypervisor.kernel_cmdline"].get("owner") for task in tasks
                  if "kvmops.hypervisor.kernel_cmdline" in task]
        owners += [task["kvmops.hypervisor.section_apply"]["kernel_cmdline"].get("owner") for task in tasks
                   if (task.get("kvmops.hypervisor.section_apply") or {}).get("kernel_cmdline")]
        # the plan role keeps applying its (now empty) iommu section: it takes the IOMMU
        # arguments back from the old owner iommu, now that sriov_vhost owns them
        expected = [name] if name in with_args or name == "iommu" else []
        assert owners == expected, (name, module.ROLE, owners)


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_every_option(role):
    readme = load(role, "README.md")
    for name in spec(role):
        assert "`%s`" % name in readme, name


@pytest.mark.parametrize("role", APPLYING)
def test_choices_in_readme_match_spec(role):
    readme = load(role, "README.md")
    for name, option in spec(role).items():
        for choice in option.get("choices", []):
            row = [line for line in readme.splitlines() if line.startswith("| `%s`" % name)]
            assert row and "`%s`" % choice in row[0], (name, choice)


def test_plan_role_documents_every_policy_variable():
    """host_plan reads kvmops_plan_<option> for every policy option; the plan role's spec
    documents (and site.yml validates) each of them."""
    policy = set("kvmops_plan_%s" % name for name in ARGUMENT_SPEC if name not in TASK_OPTIONS)
    assert policy <= set(spec("plan"))


@pytest.mark.parametrize("role", APPLYING)
def test_defaults_pass_the_role_argument_spec(role):
    """Role validation sees the defaults too: a null default with choices would fail every run."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    defaults = yaml.safe_load(load(role, "defaults", "main.yml"))
    result = ArgumentSpecValidator(spec(role)).validate(defaults, validate_role_argument_spec=True)
    assert result.error_messages == []


@pytest.mark.parametrize("name, value", [
    ("hugepages_thp", "sometimes"), ("hugepages_ksm", "off"), ("hugepages_zswap_compressor", "gzip"),
    ("hugepages_swappiness", "sixty"), ("hugepages_zswap_enabled", "maybe"),
])
def test_bad_hugepages_inputs_fail_naming_the_variable(name, value):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    variables = yaml.safe_load(load("hugepages", "defaults", "main.yml"))
    variables[name] = value
    result = ArgumentSpecValidator(spec("hugepages")).validate(variables, validate_role_argument_spec=True)
    assert result.error_messages and name in result.error_messages[0]


OTHERS = ["numa_pinning", "hugepages", "sysctl_net", "zfs_storage", "nvme_queues", "sriov_vhost", "seccomp_sandbox"]


@pytest.mark.parametrize("variables, expected", [
    ({}, OTHERS),                                                           # tuned alone: no plan yet
    ({"kvm_host_plan": {"housekeeping_cpus": [0]}}, OTHERS),
    ({"kvm_host_plan": {"numa_pinning": {"kernel_args": []}}}, OTHERS[1:]),  # an earlier role planned it
    ({"kvm_host_plan": {"numa_pinning": None, "sysctl_net": {"values": {}}}},
     [name for name in OTHERS if name != "sysctl_net"]),                   # a None is not a section
    ({"kvm_host_plan": dict((name, {}) for name in OTHERS)}, []),          # site.yml planned them all
])
def test_tuned_plans_only_the_sections_the_plan_lacks(variables, expected):
    """tuned's plan.yml includes another role's plan.yml only for a section the plan has not
    (its loop lists only those: after site.yml's planning task it is empty, nothing templated
    per item on the controller); evaluated as Ansible does."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    include = yaml.safe_load(load("tuned", "tasks", "plan.yml"))[0]
    assert "ansible.builtin.include_role" in include and "when" not in include
    templar = Templar(loader=DataLoader(), variables=variables)
    assert templar.template(trust_as_template(include["loop"])) == expected
