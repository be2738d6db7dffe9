"""site.yml checks every role's variables in one task, with the roles' specifications
read once and merged (docs/fleet.md: the loop of ten checks cost 2.6 s per 25 hosts)."""

import glob
import os

import yaml
from ansible_eval import evaluate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def pre_tasks():
    with open(os.path.join(ROOT, "playbooks", "site.yml")) as handle:
        return yaml.safe_load(handle)[0]["pre_tasks"]


def role_options():
    """{role: options} of every role of the collection."""
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml"))):
        with open(path) as handle:
            found[path.split(os.sep)[-3]] = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    return found


def checked(spec):
    """What validate_argument_spec checks of an option (not its description or default)."""
    if isinstance(spec, dict):
        return dict((key, checked(value)) for key, value in spec.items()
                    if key not in ("description", "default", "required", "version_added"))
    if isinstance(spec, list):
        return [checked(value) for value in spec]
    return spec


def test_the_check_reads_every_role_once_and_comes_first():
    tasks = pre_tasks()
    read, check = tasks[0], tasks[1]
    assert read.get("run_once") is True and read.get("tags") == ["always"]
    assert check.get("tags") == ["always"] and "loop" not in check
    (name,) = read["ansible.builtin.set_fact"].keys()
    assert check["ansible.builtin.validate_argument_spec"]["argument_spec"] == "{{ %s }}" % name


def test_the_merged_specification_is_every_roles_options():
    read = pre_tasks()[0]
    (expression,) = read["ansible.builtin.set_fact"].values()
    (merged,) = evaluate([("template", expression, {"playbook_dir": os.path.join(ROOT, "playbooks")})])
    options = role_options()
    assert set(options) >= {"plan", "reboot", "tuned", "zfs_storage"}
    assert set(merged) == set(name for role in options.values() for name in role)
    for role, specs in options.items():
        for name, spec in specs.items():
            # an option several roles share is checked the same way in each (the merge keeps one)
            assert checked(merged[name]) == checked(spec), "%s: %s is checked differently" % (role, name)
