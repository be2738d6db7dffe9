"""docs/defaults.md has every default the collection has, and shows it as the code does.

- Every option of every entry point of roles/*/meta/argument_specs.yml (and every variable
  of roles/*/defaults/main.yml) has a row in the "Role `<role>`" table of docs/defaults.md
  or in its "Collection-wide variables" table, and those tables name nothing else.
- The Default cell of a row equals the value in the role's defaults/main.yml, else the
  argument spec's default; a variable with neither shows no literal default. The plan
  role's kvmops_plan_<option> rows show the default docs/plan.md's policy table shows for
  <option> (tests/unit/test_docs.py checks that table against the planner's ARGUMENT_SPEC).
- The "Baseline keys of `sysctl_net`" table lists exactly the keys of the planner's
  BASELINE, and the summary gives the number of keys a run with no policy writes.

Expected values come from the YAML files, docs/plan.md and BASELINE's keys only; tables are
parsed as in tests/unit/test_docs.py.
"""

import os
import re

import pytest
import yaml
from markdown_tables import tables

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections.sysctl_net import BASELINE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join("docs", "defaults.md")
ROLES = sorted(name for name in os.listdir(os.path.join(ROOT, "roles"))
               if os.path.isfile(os.path.join(ROOT, "roles", name, "meta", "argument_specs.yml")))
COLLECTION_WIDE = "Collection-wide variables"
BASELINE_HEADING = "Baseline keys of `sysctl_net`"
SUMMARY_HEADING = "A run with no policy writes"
POLICY_PREFIX = "kvmops_plan_"
LITERAL = re.compile(r"^`([^`]*)`$")
NOTHING = object()


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def sections(text):
    """Heading text of every ``## `` section -> its body."""
    found = {}
    heading = None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            assert heading not in found, "%s: heading %r twice" % (DOC, heading)
            found[heading] = []
        elif heading is not None:
            found[heading].append(line)
    return dict((heading, "\n".join(lines)) for heading, lines in found.items())


def named_table(text, first, where):
    """The one table of ``text`` whose first header is ``first``: (header, {name: row})."""
    matches = [(header, rows) for header, rows in tables(text) if header[0].lower() == first.lower()]
    assert len(matches) == 1, "%s: expected one table headed %r, found %d" % (where, first, len(matches))
    header, rows = matches[0]
    by_name = {}
    for row in rows:
        names = re.findall(r"`([A-Za-z0-9_.-]+)`", row[header[0]])
        assert len(names) == 1, "%s: one name per row: %r" % (where, row[header[0]])
        assert names[0] not in by_name, "%s: %s listed twice" % (where, names[0])
        by_name[names[0]] = row
    return header, by_name


def doc_section(heading):
    found = sections(read(DOC))
    assert heading in found, "%s has no section %r" % (DOC, heading)
    return found[heading]


def variable_table(heading):
    return named_table(doc_section(heading), "Variable", "%s, %s" % (DOC, heading))


def role_heading(role):
    return "Role `%s`" % role


def spec_options(role):
    """Options of every entry point of the role's argument spec."""
    specs = yaml.safe_load(read("roles", role, "meta", "argument_specs.yml"))["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    return options


def role_defaults(role):
    path = os.path.join(ROOT, "roles", role, "defaults", "main.yml")
    if not os.path.isfile(path):
        return {}
    return yaml.safe_load(read("roles", role, "defaults", "main.yml")) or {}


def expected_default(role, name):
    """The default of ``name`` in ``role``: defaults/main.yml, else the argument spec, else NOTHING."""
    defaults = role_defaults(role)
    if name in defaults:
        return defaults[name]
    option = spec_options(role).get(name) or {}
    return option["default"] if "default" in option else NOTHING


def shown(cell):
    """(True, literal text) when the cell shows one literal (`value` or null), else (False, None)."""
    if cell == "null":
        return True, "null"
    match = LITERAL.match(cell)
    if match:
        return True, match.group(1)
    return False, None


def same(literal, value):
    """Whether the literal text shown is ``value`` (a string as written, or as YAML reads it)."""
    if isinstance(value, str) and literal == value:
        return True
    try:
        loaded = yaml.safe_load(literal)
    except yaml.YAMLError:
        return False
    return type(loaded) is type(value) and loaded == value


def default_column(header):
    columns = [cell for cell in header if cell.lower() == "default"]
    assert len(columns) == 1, "%s: a Variable table without one Default column: %r" % (DOC, header)
    return columns[0]


def check_default(where, name, cell, value):
    has, literal = shown(cell)
    if value is NOTHING:
        if has:
            return ["%s: %s shows %r, but neither defaults/main.yml nor the spec has a default" % (where, name, cell)]
        return []
    if not has:
        return ["%s: %s shows no literal default (%r); the code has %r" % (where, name, cell, value)]
    if not same(literal, value):
        return ["%s: %s shows %r; the code has %r" % (where, name, cell, value)]
    return []


@pytest.mark.parametrize("role", ROLES)
def test_every_role_variable_has_a_row(role):
    _header, rows = variable_table(role_heading(role))
    _header, shared = variable_table(COLLECTION_WIDE)
    names = set(spec_options(role)) | set(role_defaults(role))
    missing = sorted(names - set(rows) - set(shared))
    assert missing == [], "%s misses variables of role %s: %s" % (DOC, role, missing)
    extra = sorted(set(rows) - names)
    assert extra == [], "%s, %s: rows for variables the role does not have: %s" % (DOC, role_heading(role), extra)
    twice = sorted(set(rows) & set(shared))
    assert twice == [], "%s: in both %s and %s: %s" % (DOC, role_heading(role), COLLECTION_WIDE, twice)


def test_collection_wide_rows_are_variables_of_some_role():
    _header, shared = variable_table(COLLECTION_WIDE)
    known = set()
    for role in ROLES:
        known.update(spec_options(role))
    assert sorted(set(shared) - known) == []


@pytest.mark.parametrize("role", [role for role in ROLES if role != "plan"])
def test_role_defaults_are_the_code_defaults(role):
    header, rows = variable_table(role_heading(role))
    column = default_column(header)
    problems = []
    for name, row in sorted(rows.items()):
        problems.extend(check_default(role_heading(role), name, row[column], expected_default(role, name)))
    assert problems == [], "\n".join(problems)


def test_collection_wide_defaults_are_the_code_defaults():
    """One default across the roles that give one, and the table shows it."""
    header, rows = variable_table(COLLECTION_WIDE)
    column = default_column(header)
    problems = []
    for name, row in sorted(rows.items()):
        values = []
        for role in ROLES:
            if name in spec_options(role):
                value = expected_default(role, name)
                if value is not NOTHING and value not in values:
                    values.append(value)
        assert len(values) <= 1, "roles disagree on the default of %s: %r" % (name, values)
        problems.extend(check_default(COLLECTION_WIDE, name, row[column], values[0] if values else NOTHING))
    assert problems == [], "\n".join(problems)


def test_plan_defaults_are_docs_plan_md_policy_defaults():
    """kvmops_plan_<option>: the role has no default; the planner's shows in docs/plan.md."""
    header, rows = variable_table(role_heading("plan"))
    column = default_column(header)
    plan_header, policy = named_table(read("docs", "plan.md"), "option", "docs/plan.md")
    plan_column = default_column(plan_header)
    problems = []
    for name, row in sorted(rows.items()):
        if not name.startswith(POLICY_PREFIX):
            problems.append("%s: %s is not a kvmops_plan_* variable" % (role_heading("plan"), name))
            continue
        option = name[len(POLICY_PREFIX):]
        if option not in policy:
            problems.append("%s: docs/plan.md has no policy option %s" % (name, option))
            continue
        mine = shown(row[column])
        theirs = shown(policy[option][plan_column])
        if mine[0] != theirs[0] or (mine[0] and yaml.safe_load(mine[1]) != yaml.safe_load(theirs[1])):
            problems.append("%s: shows %r, docs/plan.md shows %r" % (name, row[column], policy[option][plan_column]))
    assert problems == [], "\n".join(problems)


def test_baseline_table_lists_exactly_the_baseline_keys():
    _header, rows = named_table(doc_section(BASELINE_HEADING), "Key", "%s, %s" % (DOC, BASELINE_HEADING))
    keys = [key for key, _value, _reason in BASELINE]
    assert sorted(set(keys) - set(rows)) == [], "%s misses baseline keys" % DOC
    assert sorted(set(rows) - set(keys)) == [], "%s lists keys that are not in BASELINE" % DOC


def test_summary_counts_the_baseline_keys():
    """The no-policy drop-in: the baseline without its net.bridge.* keys (br_netfilter not
    loaded), all of it while br_netfilter is loaded."""
    summary = doc_section(SUMMARY_HEADING)
    keys = [key for key, _value, _reason in BASELINE]
    without_bridge = [key for key in keys if not key.startswith("net.bridge.")]
    assert "**%d keys**" % len(without_bridge) in summary
    assert "%d-key baseline" % len(keys) in summary
    assert "**%d**" % len(keys) in summary
