# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvmops.hypervisor.host_plan: compute the kvm_host_plan fact on the controller.

A thin shell: validate the options with the argument spec (``_plan.ARGUMENT_SPEC``),
find the ``kvm_host`` facts, call the pure planner in module_utils/plan/planner.py, return
the fact. Nothing on
the host is read or changed, so check mode behaves exactly like a normal run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.planner import (
    PlanError,
    normalize_policy,
    plan,
)


def find_facts(task_facts, task_vars):
    """The kvm_host facts: the ``facts`` option, else the host's ansible_facts."""
    if task_facts is not None:
        return task_facts
    task_vars = task_vars or {}
    ansible_facts = task_vars.get("ansible_facts") or {}
    if isinstance(ansible_facts, dict) and ansible_facts.get("kvm_host"):
        return ansible_facts["kvm_host"]
    if task_vars.get("ansible_kvm_host"):
        return task_vars["ansible_kvm_host"]
    return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        # The argument spec check of ActionBase.validate_argument_spec, with the message
        # starting with the option's name (and no Python module path in it).
        try:
            args = normalize_policy(dict(self._task.args))
        except PlanError as exc:
            raise AnsibleActionFail(str(exc))
        facts = find_facts(args.get("facts"), task_vars)
        if not facts:
            raise AnsibleActionFail(
                "facts: no kvm_host facts; run kvmops.hypervisor.kvm_host_facts first "
                "or pass them in the facts option")
        policy = dict((k, v) for k, v in args.items() if k != "facts")
        try:
            host_plan = plan(facts, policy, validated=True)
        except PlanError as exc:
            raise AnsibleActionFail(str(exc))
        result["changed"] = False
        result["ansible_facts"] = {"kvm_host_plan": host_plan}
        for warning in host_plan["warnings"]:
            self._display.warning("host_plan: %s" % warning)
        return result
