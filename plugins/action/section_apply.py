# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kvmops.hypervisor.section_apply: run the module of the same name (every step of a role's
section in one remote execution), then notify the handlers of the steps that changed.

Ansible notifies a task's ``notify`` for any change of the task; one task that runs
several steps would then restart irqbalance because a sysctl drop-in changed. The result
key ``_ansible_notify`` is what the task executor fills from ``notify`` (when the task has
one) and what the strategy reads to notify the handlers of a changed result; this plugin
fills it from ``notify_on`` and the module's ``changed_parts`` instead
(tests/unit/plugins/action/test_section_apply.py runs ansible-playbook to prove it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.steps import STEPS


def notifications(notify_on, changed_parts):
    """The handler names or topics to notify for the steps that changed, in step order,
    each once."""
    names = []
    for part in changed_parts or []:
        value = (notify_on or {}).get(part) or []
        for name in [value] if isinstance(value, str) else value:
            if name not in names:
                names.append(name)
    return names


def check_notify_on(notify_on):
    if not isinstance(notify_on, dict):
        raise AnsibleActionFail("notify_on: must be a dict of step to handler, got %s" % type(notify_on).__name__)
    unknown = sorted(name for name in notify_on if name not in STEPS)
    if unknown:
        raise AnsibleActionFail("notify_on: unknown step(s) %s; choose from %s"
                                % (", ".join(repr(name) for name in unknown), ", ".join(STEPS)))
    for name, value in notify_on.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise AnsibleActionFail("notify_on[%s]: a handler name or a list of them, got %r" % (name, value))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        notify_on = args.pop("notify_on", None) or {}
        check_notify_on(notify_on)
        if self._task.notify:
            raise AnsibleActionFail("section_apply notifies per step: give the handlers in notify_on, not notify "
                                    "(notify would run them for a change of any step)")
        result.update(self._execute_module(module_name="kvmops.hypervisor.section_apply", module_args=args,
                                           task_vars=task_vars))
        names = notifications(notify_on, result.get("changed_parts"))
        if result.get("changed") and names and not result.get("failed"):
            result["_ansible_notify"] = names
        return result
