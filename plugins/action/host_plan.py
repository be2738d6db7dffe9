# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvmops.hypervisor.host_plan: compute the kvm_host_plan fact on the controller.

A thin shell around the pure planner (module_utils/plan/):

1. the policy: task options, else the ``kvmops_plan_<option>`` variables, validated
   with the argument spec (``plan.policy.ARGUMENT_SPEC``);
2. the facts: the ``facts`` option, else ``kvm_host`` (a variable or the host's facts);
   when they lack a part the planner reads, kvmops.hypervisor.kvm_host_facts gathers just
   the missing parts on the host (read-only, also in check mode); the parts given win, and
   the merged facts are returned too, so every role can run alone and in any order;
   ``facts_for`` names sections whose parts are gathered too, in the same gathering
   (site.yml names every role's, so the play gathers once per host);
3. the plan with the sections asked for; sections of a plan computed earlier in the
   play (other roles) are kept, and a plan that already has every section asked for
   (computed earlier, or passed in) is returned as it is;
4. the plan goes back as the ``kvm_host_plan`` fact, or with ``as_fact: false`` as the
   result's ``kvm_host_plan`` key only, for a ``set_fact`` that keeps it as a host
   variable: a fact cache (AWX's fact storage) would carry a fact to the next run, whose
   planning would take it as this run's (docs/contracts.md). ``kvm_host``, when
   gathered, is a fact.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.host import SUBSET_NAMES
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import plan
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.policy import (
    ARGUMENT_SPEC,
    TASK_OPTIONS,
    PlanError,
    normalize_policy,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.sections import SECTIONS

# The kvm_host parts the planner and its sections read (each is the gather_subset of the
# same name of kvm_host_facts).
FACT_KEYS = ("cpu", "numa", "memory", "kernel", "nvme", "zfs", "libvirt", "daemons")
# Parts only some sections read, gathered when that section is asked for:
# kvm_host key -> gather_subset, per section.
SECTION_FACT_KEYS = {"numa_pinning": (("domains", "domains"),),
                     "seccomp_sandbox": (("security", "security"), ("qemu_processes", "qemu")),
                     "sriov_vhost": (("iommu", "iommu"), ("sriov", "sriov"), ("vhost", "vhost")),
                     "tuned": (("tuned", "tuned"),)}
POLICY_PREFIX = "kvmops_plan_"


def find_facts(task_facts, task_vars):
    """The kvm_host facts: the ``facts`` option, else the host's ansible_facts."""
    if task_facts is not None:
        return task_facts
    task_vars = task_vars or {}
    for candidate in (task_vars.get("kvm_host"), (task_vars.get("ansible_facts") or {}).get("kvm_host"),
                      task_vars.get("ansible_kvm_host")):
        if isinstance(candidate, dict) and candidate:
            return candidate
    return None


def missing_parts(facts, sections=None, facts_for=None):
    """The gather_subset names of the kvm_host parts the planner (and the ``sections``
    asked for, and those named in ``facts_for``) read that ``facts`` lacks."""
    wanted = [(key, key) for key in FACT_KEYS]
    for name in sorted(set(sections or {}) | set(facts_for or ())):
        wanted.extend(part for part in SECTION_FACT_KEYS.get(name, ()) if part not in wanted)
    return [subset for key, subset in wanted if not isinstance(facts, dict) or key not in facts]


def policy_from_vars(args, task_vars):
    """Task options, else the kvmops_plan_<option> variables (unset ones are left out)."""
    policy = dict(args)
    for name in ARGUMENT_SPEC:
        if name in TASK_OPTIONS or name in policy:
            continue
        value = (task_vars or {}).get(POLICY_PREFIX + name)
        if value is not None:
            policy[name] = value
    return policy


def named_as_set(exc, args):
    """The message of a PlanError, starting with what the operator set: the variable
    ``kvmops_plan_<option>`` when that option came from it (roles call host_plan with
    ``sections`` only), else the task option (``guests[db1].vcpus`` stays as it is when
    ``guests`` was given to the task)."""
    message = str(exc)
    option = re.match(r"[a-z_]+", getattr(exc, "option", "") or "")
    name = option.group(0) if option else ""
    if name in ARGUMENT_SPEC and name not in TASK_OPTIONS and name not in (args or {}):
        return POLICY_PREFIX + message
    return message


def existing_plan(task_vars, as_fact=True):
    """The plan of an earlier call: the kvm_host_plan variable, else the fact. With
    ``as_fact`` false (the roles' calls, which keep the plan as a variable) only the
    variable counts, and not when it is the fact itself (injected as a variable): a fact
    of that name is a direct call's or a fact cache's (fact_caching, AWX's fact storage)
    from an earlier run, planned from that run's facts and policy."""
    task_vars = task_vars or {}
    held = task_vars.get("kvm_host_plan")
    fact = (task_vars.get("ansible_facts") or {}).get("kvm_host_plan")
    candidates = (held, fact) if as_fact else (() if held == fact else (held,))
    for candidate in candidates:
        if isinstance(candidate, dict) and candidate:
            return candidate
    return None


def returned(result, plan, as_fact, new_facts=None):
    """Put the plan (``None``: the variable already holds it) and the facts gathered
    (``None``: none) into the task result: the plan as the kvm_host_plan fact, or with
    ``as_fact`` false as the result's kvm_host_plan key (for the caller's set_fact)."""
    facts = {}
    if plan is not None:
        if as_fact:
            facts["kvm_host_plan"] = plan
        else:
            result["kvm_host_plan"] = plan
    if new_facts is not None:
        facts["kvm_host"] = new_facts
    if facts:
        result["ansible_facts"] = facts
    result["changed"] = False
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def gather(self, subsets, task_vars):
        result = self._execute_module(module_name="kvmops.hypervisor.kvm_host_facts",
                                      module_args={"gather_subset": list(subsets)}, task_vars=task_vars)
        if result.get("failed"):
            raise AnsibleActionFail("facts: kvmops.hypervisor.kvm_host_facts failed: %s" % result.get("msg"))
        return (result.get("ansible_facts") or {}).get("kvm_host") or {}

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        # The argument spec check of ActionBase.validate_argument_spec, with the message
        # starting with the option's name (and no Python module path in it).
        try:
            args = normalize_policy(policy_from_vars(self._task.args, task_vars))
        except PlanError as exc:
            raise AnsibleActionFail(named_as_set(exc, self._task.args))
        sections = args.get("sections")
        as_fact = args.get("as_fact", True)
        refresh = list(args.get("refresh") or [])
        unknown = [name for name in refresh if name not in SUBSET_NAMES]
        if unknown:
            raise AnsibleActionFail("refresh: unknown part(s) %s; choose from %s (kvm_host_facts' gather_subset names)"
                                    % (", ".join(repr(name) for name in unknown), ", ".join(SUBSET_NAMES)))
        facts_for = list(args.get("facts_for") or [])
        unknown = [name for name in facts_for if name not in SECTIONS]
        if unknown:
            raise AnsibleActionFail("facts_for: unknown section(s) %s; choose from %s"
                                    % (", ".join(repr(name) for name in unknown), ", ".join(sorted(SECTIONS))))
        earlier = existing_plan(task_vars, as_fact)
        if sections is not None and earlier is not None and not refresh and (not facts_for or not missing_parts(
                find_facts(args.get("facts"), task_vars), None, facts_for)) and all(
                isinstance(earlier.get(name), dict) for name in sections):
            # Returned only when the host does not hold it already as asked (as the fact,
            # or as the variable of an earlier as_fact=false call): every role's own call
            # finds the site play's plan, and a 20 kB plan sent back from each of them is
            # work for the controller (docs/fleet.md).
            held = (task_vars or {}).get("ansible_facts", {}).get("kvm_host_plan") if as_fact else \
                (task_vars or {}).get("kvm_host_plan")
            return returned(result, None if held == earlier else earlier, as_fact)
        facts = find_facts(args.get("facts"), task_vars)
        new_facts = None
        missing = missing_parts(facts, sections, facts_for)
        if args.get("facts") is None and missing:
            gathered = self.gather(missing, task_vars)
            facts = new_facts = dict(gathered, **(facts or {}))
        if args.get("facts") is None and refresh:
            facts = new_facts = dict(facts or {}, **self.gather(refresh, task_vars))
        if not facts:
            raise AnsibleActionFail(
                "facts: no kvm_host facts; run kvmops.hypervisor.kvm_host_facts first "
                "or pass them in the facts option")
        if sections is None and facts_for and earlier is not None:
            # a call that only gathers (site.yml's first task): a plan already there, passed
            # in or computed earlier, is used as it is, as every role's own call uses it
            return returned(result, earlier, as_fact, new_facts)
        policy = dict((k, v) for k, v in args.items() if k not in TASK_OPTIONS)
        try:
            host_plan = plan(facts, policy, validated=True, sections=sections, existing_sections=earlier)
        except PlanError as exc:
            raise AnsibleActionFail(named_as_set(exc, self._task.args))
        for name, section in (earlier or {}).items():
            if name in SECTIONS and isinstance(section, dict):
                host_plan.setdefault(name, section)
        for warning in host_plan["warnings"]:
            self._display.warning("host_plan: %s" % warning)
        return returned(result, host_plan, as_fact, new_facts)
