"""playbooks/awx_setup.yml (AWX as code) checked offline, and the playbooks' behaviour
under AWX.

- Every option of every awx.awx task (and of the play's module_defaults) is in that
  module's argument spec as ``ansible-doc --json awx.awx.<module>`` gives it (names or
  aliases), with the documented type and one of its choices when written literally; every
  required option is given.
- The surveys (playbooks/vars/awx_surveys.yml) pass AWX's survey rules (tests/unit/
  awx_survey.py, written from AWX's source), and the rule checker refuses what AWX refuses.
- Each survey variable is one the playbook reads: in a role's argument spec with the same
  choices (and only "true"/"false" for a bool), or a play keyword of site.yml.
- The three job templates are what README.md promises.
- No playbook or role prompts or pauses without a timeout (AWX has no terminal).
"""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml
from awx_survey import spec_errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOKS = os.path.join(ROOT, "playbooks")
SETUP = os.path.join(PLAYBOOKS, "awx_setup.yml")
SURVEYS = os.path.join(PLAYBOOKS, "vars", "awx_surveys.yml")
AWX_GROUP = "group/awx.awx.controller"
TASK_KEYWORDS = {"name", "when", "no_log", "register", "tags", "loop", "loop_control", "vars",
                 "check_mode", "changed_when", "failed_when", "delegate_to", "run_once", "environment"}
PYTHON_TYPES = {"str": str, "path": str, "bool": bool, "int": int, "list": list, "dict": dict, "float": (float, int)}


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


PLAY = load(SETUP)[0]
SURVEY_VARS = load(SURVEYS)
AWX_TASKS = [task for task in PLAY["tasks"] if any(key.startswith("awx.awx.") for key in task)]


def module_of(task):
    (module,) = [key for key in task if key not in TASK_KEYWORDS]
    return module


@pytest.fixture(scope="module")
def awx_docs():
    """ansible-doc --json for every awx.awx module the playbook uses, in one call."""
    modules = sorted({module_of(task) for task in AWX_TASKS})
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    out = subprocess.run([ansible_doc, "--json"] + modules, check=True, capture_output=True, text=True).stdout
    docs = json.loads(out)
    assert sorted(docs) == modules
    return {name: doc["doc"]["options"] for name, doc in docs.items()}


def templated(value):
    return isinstance(value, str) and "{{" in value


def option_errors(module, options, spec, check_required=True):
    canonical = {}
    for name, opt in spec.items():
        canonical[name] = name
        for alias in opt.get("aliases") or []:
            canonical[alias] = name
    errors = []
    for key, value in options.items():
        if key not in canonical:
            errors.append("%s: %s is not an option" % (module, key))
            continue
        opt = spec[canonical[key]]
        if templated(value) or opt.get("type", "str") == "raw":
            continue
        kind = PYTHON_TYPES[opt.get("type", "str")]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            errors.append("%s: %s=%r is not of type %s" % (module, key, value, opt.get("type")))
        elif "choices" in opt and value not in opt["choices"]:
            errors.append("%s: %s=%r is not one of %s" % (module, key, value, opt["choices"]))
    if check_required:
        given = {canonical[key] for key in options if key in canonical}
        errors += ["%s: required option %s missing" % (module, name)
                   for name, opt in spec.items() if opt.get("required") and name not in given]
    return errors


def test_the_playbook_uses_the_modules_it_should():
    assert sorted(module_of(task) for task in AWX_TASKS) == sorted([
        "awx.awx.execution_environment", "awx.awx.project", "awx.awx.inventory", "awx.awx.inventory_source",
        "awx.awx.credential", "awx.awx.job_template", "awx.awx.job_template", "awx.awx.job_template"])


def test_every_task_option_is_in_the_modules_argument_spec(awx_docs):
    errors = []
    for task in AWX_TASKS:
        module = module_of(task)
        errors += option_errors(module, task[module], awx_docs[module])
    assert errors == []


def test_module_defaults_hold_only_options_every_awx_module_has(awx_docs):
    defaults = PLAY["module_defaults"][AWX_GROUP]
    assert set(defaults) >= {"controller_host", "controller_oauthtoken", "validate_certs"}
    errors = []
    for module, spec in awx_docs.items():
        errors += option_errors(module, defaults, spec, check_required=False)
    assert errors == []


def test_the_checker_catches_what_the_argument_spec_refuses(awx_docs):
    """The option check can fail: unknown names, wrong types, bad choices, missing required."""
    spec = awx_docs["awx.awx.job_template"]
    assert option_errors("jt", {"name": "x", "playbook": "p.yml", "job_type": "run"}, spec) == []
    assert option_errors("jt", {"name": "x", "tower_host": "h"}, spec) == []  # an alias
    assert option_errors("jt", {"name": "x", "job_typ": "run"}, spec) == ["jt: job_typ is not an option"]
    assert option_errors("jt", {"name": "x", "job_type": "scan"}, spec) == [
        "jt: job_type='scan' is not one of ['run', 'check']"]
    assert option_errors("jt", {"name": "x", "ask_limit_on_launch": "yes"}, spec) == [
        "jt: ask_limit_on_launch='yes' is not of type bool"]
    assert option_errors("jt", {"name": "x", "verbosity": 7}, spec) == [
        "jt: verbosity=7 is not one of [0, 1, 2, 3, 4, 5]"]
    assert option_errors("jt", {"playbook": "p.yml"}, spec) == ["jt: required option name missing"]


def templates():
    return {task["awx.awx.job_template"]["name"]: task["awx.awx.job_template"]
            for task in AWX_TASKS if "awx.awx.job_template" in task}


def survey_of(template):
    ref = template["survey_spec"].strip()
    assert ref.startswith("{{") and ref.endswith("}}")
    return SURVEY_VARS[ref[2:-2].strip()]


def test_the_job_templates():
    jts = templates()
    assert sorted(jts) == ["KVM hosts: audit", "KVM hosts: reboot window", "KVM hosts: tune"]
    for template in jts.values():
        assert os.path.isfile(os.path.join(ROOT, template["playbook"]))
        assert template["ask_limit_on_launch"] is True
    tune, audit, reboot = jts["KVM hosts: tune"], jts["KVM hosts: audit"], jts["KVM hosts: reboot window"]
    assert tune["playbook"] == "playbooks/site.yml"
    assert tune["ask_job_type_on_launch"] and tune["ask_diff_mode_on_launch"] and tune["ask_tags_on_launch"]
    assert audit["playbook"] == "playbooks/audit.yml"
    assert audit["job_type"] == "check" and audit["ask_job_type_on_launch"] is True
    assert reboot["playbook"] == "playbooks/site.yml" and reboot["job_tags"] == "reboot"
    assert reboot["extra_vars"] == {"kvmops_reboot_allowed": True}
    assert {q["variable"] for q in survey_of(tune)["spec"]} == {
        "kvmops_serial", "kvmops_reboot_allowed", "kvmops_plan_isolation"}
    assert "kvmops_serial" in {q["variable"] for q in survey_of(reboot)["spec"]}
    for template in (tune, reboot):
        assert template["survey_enabled"] is True
        assert survey_of(template)["name"] == template["name"]


@pytest.mark.parametrize("var", sorted(SURVEY_VARS))
def test_survey_passes_awx_rules(var):
    assert spec_errors(SURVEY_VARS[var]) == []


def question(**item):
    base = {"question_name": "Q", "variable": "v", "required": False, "type": "text"}
    base.update(item)
    return base


def survey(*items):
    return {"name": "s", "description": "", "spec": list(items)}


@pytest.mark.parametrize("spec, error", [
    ({"name": "s", "spec": [question()]}, "field 'description' is missing from the survey spec"),
    (survey(), "'spec' has no questions"),
    (survey({"question_name": "Q", "variable": "v", "type": "text"}), "question 0: required missing"),
    (survey(question(required="yes")), "question 0: required of the wrong type"),
    (survey(question(), question(question_name="R")), "question 1: variable 'v' is used twice"),
    (survey(question(type="boolean")), "question 0: type 'boolean' is not one of "
     "['float', 'integer', 'multiplechoice', 'multiselect', 'password', 'text', 'textarea']"),
    (survey(question(type="integer", default="1")), "question 0: default '1' is not of type integer"),
    (survey(question(type="integer", min="1")), "question 0: min must be an integer"),
    (survey(question(type="integer", min=1, max=5, default=9)), "question 0: default: v: 9 is outside max 5"),
    (survey(question(type="integer", default=True)), "question 0: default: v: True is not an integer"),
    (survey(question(type="text", max=3, default="abcd")), "question 0: default: v: length 4 is outside max 3"),
    (survey(question(type="multiplechoice")), "question 0: a multiplechoice question needs choices"),
    (survey(question(type="multiplechoice", choices=["a", "b"], default="c")),
     "question 0: default 'c' is not among the choices"),
    # AWX's own check is a substring test for newline choices; the lines are compared here
    (survey(question(type="multiplechoice", choices="false\ntrue", default="fals")),
     "question 0: default 'fals' is not among the choices"),
    (survey(question(type="multiplechoice", choices=["a", "b"], default="a\nb")),
     "question 0: a multiple choice question has one default"),
    (survey(question(type="text", default="$encrypted$x")), "question 0: $encrypted$ is reserved"),
])
def test_survey_checker_refuses_what_awx_refuses(spec, error):
    assert error in spec_errors(spec)


def test_survey_checker_accepts_what_awx_accepts():
    assert spec_errors(survey(
        question(type="multiplechoice", choices="a\nb\n\n", default="b"),
        question(variable="w", type="multiselect", choices=["a", "b"], default="a\nb"),
        question(variable="x", type="float", min=0, max=2, default=1),
        question(variable="y", type="integer", default=""),
        question(variable="z", type="password", default="secret", required=True))) == []


def role_options():
    options = {}
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        for name, opt in load(path)["argument_specs"]["main"]["options"].items():
            options.setdefault(name, opt)
    return options


# Variables site.yml reads as play keywords (serial, max_fail_percentage), in no role's spec.
PLAY_KEYWORD_VARS = {"kvmops_serial": "serial", "kvmops_max_fail_percentage": "max_fail_percentage"}


def test_every_survey_variable_is_read_by_the_playbooks():
    options = role_options()
    site = load(os.path.join(PLAYBOOKS, "site.yml"))[0]
    for var, spec in SURVEY_VARS.items():
        for item in spec["spec"]:
            name = item["variable"]
            if name in PLAY_KEYWORD_VARS:
                assert name in site[PLAY_KEYWORD_VARS[name]], name
                assert item["type"] == "integer" and item["required"] and "default" in item, name
                continue
            assert name in options, "%s: %s is no role's option" % (var, name)
            opt = options[name]
            if opt["type"] == "bool":
                assert item["type"] == "multiplechoice" and set(item["choices"]) == {"true", "false"}, name
            elif "choices" in opt:
                assert item["type"] == "multiplechoice" and item["choices"] == opt["choices"], name


# --- behaviour under AWX: no terminal to answer a prompt -------------------------------------

def yaml_files():
    for base in ("playbooks", "roles", "molecule"):
        yield from glob.glob(os.path.join(ROOT, base, "**", "*.yml"), recursive=True)


def walk_tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from walk_tasks(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_tasks(value)


def test_no_prompt_and_no_pause_without_a_timeout():
    problems = []
    for path in yaml_files():
        for node in walk_tasks(load(path)):
            if "vars_prompt" in node:
                problems.append("%s: vars_prompt" % path)
            for key in ("pause", "ansible.builtin.pause", "ansible.legacy.pause"):
                if key in node:
                    args = node[key] if isinstance(node[key], dict) else {}
                    if not ({"seconds", "minutes"} & set(args)):
                        problems.append("%s: %s without seconds or minutes" % (path, key))
    assert problems == []
