"""Static checks of the plan, numa_pinning and hugepages roles.

Every variable a role uses is in its argument spec, every default in defaults/main.yml
equals the spec's, the README names every option, and the templates render what the
kernel and systemd read.
"""

import os
import re

import jinja2
import pytest
import yaml

from ansible_collections.kvmops.hypervisor.plugins.filter.cpulist import cpulist

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = ("plan", "numa_pinning", "hugepages", "reboot")


def load(role, *parts):
    path = os.path.join(ROOT, "roles", role, *parts)
    with open(path) as handle:
        return handle.read()


def spec(role):
    return yaml.safe_load(load(role, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def role_texts(role):
    texts = []
    for sub in ("tasks", "handlers", "vars", "templates"):
        folder = os.path.join(ROOT, "roles", role, sub)
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name)) as handle:
                    texts.append(handle.read())
    return "\n".join(texts)


@pytest.mark.parametrize("role", ROLES)
def test_every_used_variable_is_in_the_spec(role):
    options = spec(role)
    used = set(re.findall(r"(?<![\w.])(?:%s|kvmops|kvm)_[a-z0-9_]+" % role, role_texts(role)))
    # Registered results, facts and the handler topic are not inputs.
    used -= {"kvm_host_facts", "kvm_host_plan_facts", "kvmops_reboot_required"}
    # kvmops_plan_* are the plan role's inputs (checked there); "kvmops_plan_*" in comments.
    plan_options = spec("plan")
    missing = sorted(name for name in used
                     if name not in options and not name.endswith("_")
                     and not (name.startswith("kvmops_plan_") and name in plan_options))
    assert missing == []


@pytest.mark.parametrize("role", ("numa_pinning", "hugepages"))
def test_defaults_match_the_spec(role):
    defaults = yaml.safe_load(load(role, "defaults", "main.yml"))
    options = spec(role)
    for name, value in defaults.items():
        assert name in options, name
        assert options[name].get("default") == value, name
    for name, option in options.items():
        if name.startswith(role + "_"):
            assert name in defaults, "%s has no default in defaults/main.yml" % name
            assert option.get("description"), name


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_every_option(role):
    readme = load(role, "README.md")
    for name in spec(role):
        assert "`%s`" % name in readme, name


@pytest.mark.parametrize("role", ("numa_pinning", "hugepages"))
def test_choices_in_readme_match_spec(role):
    readme = load(role, "README.md")
    for name, option in spec(role).items():
        for choice in option.get("choices", []):
            row = [line for line in readme.splitlines() if line.startswith("| `%s`" % name)]
            assert row and "`%s`" % choice in row[0], (name, choice)


def render(role, template, **variables):
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["kvmops.hypervisor.cpulist"] = cpulist
    variables.setdefault("ansible_managed", "Ansible managed")
    return env.from_string(load(role, "templates", template)).render(**variables)


def test_cpuaffinity_dropin_lists_housekeeping_cpus():
    text = render("numa_pinning", "cpuaffinity.conf.j2",
                  __numa_pinning_plan={"housekeeping_cpus": [0, 8, 4, 12, 1, 9]})
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["[Manager]", "CPUAffinity=0-1,4,8-9,12"]


def test_numa_sysctl_dropin():
    text = render("numa_pinning", "numa.conf.j2", numa_pinning_numa_balancing="auto",
                  __numa_pinning_guests=[{"name": "a"}])
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["kernel.numa_balancing = 0"]
    assert "Documentation/admin-guide/sysctl/kernel.rst" in text


def test_tmpfiles_dropin_skips_unset_attributes():
    attrs = {"/sys/kernel/mm/ksm/run": "0", "/sys/module/zswap/parameters/enabled": None,
             "/sys/module/zswap/parameters/compressor": "zstd"}
    text = render("hugepages", "kvmops-memory.tmpfiles.j2", __hugepages_boot_attributes=attrs)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["w /sys/kernel/mm/ksm/run - - - - 0",
                     "w /sys/module/zswap/parameters/compressor - - - - zstd"]


def test_swappiness_dropin():
    text = render("hugepages", "memory.sysctl.j2", hugepages_swappiness=10)
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["vm.swappiness = 10"]


def test_plan_role_passes_every_policy_option():
    """Each kvmops_plan_<name> goes to host_plan option <name>, and every option is covered."""
    from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import ARGUMENT_SPEC
    tasks = yaml.safe_load(load("plan", "tasks", "main.yml"))
    call = [t for t in tasks if "kvmops.hypervisor.host_plan" in t][0]["kvmops.hypervisor.host_plan"]
    assert set(call) == set(ARGUMENT_SPEC)
    for name, value in call.items():
        if name != "facts":
            assert value == "{{ kvmops_plan_%s | default(omit) }}" % name
            assert "kvmops_plan_%s" % name in spec("plan")


@pytest.mark.parametrize("role", ("numa_pinning", "hugepages"))
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
