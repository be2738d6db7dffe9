"""The documentation says what the code has.

- Every option table of a role README (the table whose first column is "Variable") lists
  exactly the options of that role's meta/argument_specs.yml, with the same type and, where
  the table shows one, the same default and choices. The plan role's "Planner default"
  column is the host_plan option's default.
- docs/plan.md's policy table lists exactly the host_plan policy options (each also the
  variable kvmops_plan_<option> of the plan role), with the same types and defaults.
- README.md names every module, filter, callback, role and playbook, and its lists name nothing
  that does not exist.

(Names and choices of the applying roles are also checked by
tests/unit/roles/test_numa_pinning_hugepages_roles.py.)
"""

import glob
import os
import re

import pytest
import yaml
from markdown_tables import tables

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import ARGUMENT_SPEC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(name for name in os.listdir(os.path.join(ROOT, "roles"))
               if os.path.isfile(os.path.join(ROOT, "roles", name, "meta", "argument_specs.yml")))
POLICY_PREFIX = "kvmops_plan_"
NOT_POLICY = ("facts", "sections", "refresh", "facts_for", "as_fact")
LITERAL = re.compile(r"^`([^`]*)`$")


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def spec(role):
    return yaml.safe_load(read("roles", role, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def option_table(text, first):
    """The one table whose first header is ``first`` (case-insensitive), by option name."""
    matches = [(header, rows) for header, rows in tables(text) if header[0].lower() == first.lower()]
    assert len(matches) == 1, "expected one table headed %r, found %d" % (first, len(matches))
    header, rows = matches[0]
    by_name = {}
    for row in rows:
        names = re.findall(r"`([a-z0-9_]+)`", row[header[0]])
        assert len(names) == 1, "one option per row: %r" % row[header[0]]
        assert names[0] not in by_name, "%s listed twice" % names[0]
        by_name[names[0]] = row
    return header, by_name


def column(header, *names):
    for cell in header:
        if cell.lower() in names:
            return cell
    return None


def table_type(cell):
    """(type, elements) of a Type cell: ``int``, ``int (>= 0)``, ``str: `a`, `b```, ``list of str``."""
    match = re.match(r"^list of (\w+)", cell)
    if match:
        return "list", match.group(1)
    match = re.match(r"^(\w+)", cell)
    assert match, "no type in %r" % cell
    return match.group(1), None


def spec_type(option):
    return option.get("type", "str"), option.get("elements") if option.get("type") == "list" else None


def shown_default(cell):
    """(True, value) when the cell shows one literal default (`value` or null), else (False, None)."""
    if cell == "null":
        return True, None
    match = LITERAL.match(cell)
    if match:
        return True, yaml.safe_load(match.group(1)) if match.group(1) else ""
    return False, None


def shown_choices(cell):
    """The backticked values after ``type:`` in a Type cell, or of a Choices cell."""
    if ":" in cell.split("`")[0]:
        cell = cell.split(":", 1)[1]
    return [yaml.safe_load('"%s"' % value) for value in re.findall(r"`([^`]+)`", cell)]


def check_rows(where, header, rows, options, planner_defaults=None):
    type_col = column(header, "type")
    default_col = column(header, "default")
    planner_col = column(header, "planner default")
    choices_col = column(header, "choices")
    assert type_col, "%s: the option table has no Type column" % where
    problems = []
    for name, row in sorted(rows.items()):
        option = options[name]
        if table_type(row[type_col]) != spec_type(option):
            problems.append("%s: type %r, spec %r" % (name, row[type_col], spec_type(option)))
        shown = row[choices_col] if choices_col else row[type_col]
        if option.get("choices") and sorted(map(str, shown_choices(shown))) != sorted(map(str, option["choices"])):
            problems.append("%s: choices %r, spec %r" % (name, shown, option["choices"]))
        if choices_col and not option.get("choices") and row[choices_col]:
            problems.append("%s: choices %r, spec has none" % (name, row[choices_col]))
        if default_col:
            has, value = shown_default(row[default_col])
            if has and value != option.get("default"):
                problems.append("%s: default %r, spec %r" % (name, row[default_col], option.get("default")))
        if planner_col and planner_defaults is not None and name in planner_defaults:
            has, value = shown_default(row[planner_col])
            if has and value != planner_defaults[name]:
                problems.append("%s: planner default %r, planner %r" % (name, row[planner_col], planner_defaults[name]))
    assert problems == [], "%s:\n%s" % (where, "\n".join(problems))


def planner_defaults_by_variable():
    return dict((POLICY_PREFIX + name, option.get("default")) for name, option in ARGUMENT_SPEC.items()
                if name not in NOT_POLICY)


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_table_matches_the_argument_spec(role):
    options = spec(role)
    header, rows = option_table(read("roles", role, "README.md"), "Variable")
    assert sorted(rows) == sorted(options), "roles/%s/README.md names differ from meta/argument_specs.yml" % role
    check_rows("roles/%s/README.md" % role, header, rows, options, planner_defaults_by_variable())


def test_plan_role_planner_defaults_are_the_planners():
    """The plan role's variables have no default of their own; its README shows the planner's."""
    header, rows = option_table(read("roles", "plan", "README.md"), "Variable")
    assert column(header, "planner default")
    assert all("default" not in option for name, option in spec("plan").items() if name.startswith(POLICY_PREFIX))
    shown = [name for name, row in rows.items() if shown_default(row[column(header, "planner default")])[0]]
    assert set(shown) <= set(planner_defaults_by_variable())
    assert shown, "no planner default shown"


def test_plan_doc_policy_table_matches_the_policy():
    """docs/plan.md's policy table: every host_plan policy option, the plan role's type of
    kvmops_plan_<option>, and the planner's default where one is shown."""
    header, rows = option_table(read("docs", "plan.md"), "option")
    policy = sorted(name for name in ARGUMENT_SPEC if name not in NOT_POLICY)
    assert sorted(rows) == policy
    role_options = spec("plan")
    options = {}
    for name in policy:
        option = dict(role_options[POLICY_PREFIX + name])
        assert spec_type(option) == spec_type(ARGUMENT_SPEC[name]), name
        option.pop("default", None)
        if "default" in ARGUMENT_SPEC[name]:
            option["default"] = ARGUMENT_SPEC[name]["default"]
        options[name] = option
    check_rows("docs/plan.md", header, rows, options)


# --------------------------------------------------------------------------- README.md

LIST_KINDS = {"Modules": "module", "Filters": "filter", "Callbacks": "callback", "Roles": "role",
              "Playbooks": "playbook"}


def shipped():
    """Kind -> names of what the collection ships."""
    modules = set(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                  if not path.endswith("__init__.py"))
    filters = set(os.path.basename(path)[:-4] for path in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml")))
    callbacks = set(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, "plugins", "callback", "*.py"))
                    if not path.endswith("__init__.py"))
    roles = set(ROLES)
    playbooks = set(os.path.basename(path)[:-4] for path in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    return {"module": modules, "filter": filters, "callback": callbacks, "role": roles, "playbook": playbooks}


def readme_lists():
    """Kind -> names listed in README.md under "Modules:", "Filters:", "Callbacks:", "Roles:", "Playbooks:"
    (the ``kvmops.hypervisor.*`` names before the dash of each bullet)."""
    listed = dict((kind, []) for kind in LIST_KINDS.values())
    kind = None
    for line in read("README.md").splitlines():
        heading = line.rstrip(":")
        if line.endswith(":") and heading in LIST_KINDS:
            kind = LIST_KINDS[heading]
        elif kind and line.startswith("- "):
            head = line.split(" — ", 1)[0]
            names = re.findall(r"`kvmops\.hypervisor\.([a-z0-9_]+)`", head)
            assert names, "README.md: a %s bullet names nothing: %s" % (kind, line)
            listed[kind].extend(names)
        elif kind and line and not line.startswith("  "):
            kind = None
    return listed


def test_filter_docs_name_filters_the_plugins_provide():
    import importlib
    provided = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py")):
        name = os.path.basename(path)[:-3]
        plugin = importlib.import_module("ansible_collections.kvmops.hypervisor.plugins.filter." + name)
        provided.update(plugin.FilterModule().filters())
    assert shipped()["filter"] == provided


def test_readme_lists_everything_shipped_and_nothing_else():
    listed = readme_lists()
    found = shipped()
    for kind in LIST_KINDS.values():
        assert len(listed[kind]) == len(set(listed[kind])), "README.md lists a %s twice" % kind
        missing = sorted(set(listed[kind]) - found[kind])
        unlisted = sorted(found[kind] - set(listed[kind]))
        assert missing == [], "README.md lists %ss that do not exist: %s" % (kind, missing)
        assert unlisted == [], "README.md does not list these %ss: %s" % (kind, unlisted)


def test_readme_names_only_what_exists():
    everything = set().union(*shipped().values())
    named = set(re.findall(r"kvmops\.hypervisor\.([a-z0-9_]+)", read("README.md")))
    assert sorted(named - everything) == []
