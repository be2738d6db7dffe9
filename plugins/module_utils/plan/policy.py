# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's policy: its options, their validation, and PlanError."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

KB_PER_MB = 1024
PAGE_SIZES_KB = {"2M": 2048, "1G": 1048576}

# Default host reserve per node (docs/plan.md "Memory reserve").
RESERVE_FIXED_MB = 1024
RESERVE_PERCENT = 4

GUEST_OPTIONS = dict(
    name=dict(type="str", required=True),
    vcpus=dict(type="int", required=True),
    memory_mb=dict(type="int", required=True),
    numa_node=dict(type="int"),
    hugepages=dict(type="bool", default=True),
    smt=dict(type="str", default="exclusive", choices=["exclusive", "shared"]),
)

ARGUMENT_SPEC = dict(
    facts=dict(type="dict"),
    # no default: set, it asks for CPU partitioning (planner.partitioning); unset means 1
    housekeeping_cores_per_node=dict(type="int"),
    housekeeping_cpus=dict(type="raw"),
    allow_split_cores=dict(type="bool", default=False),
    isolation=dict(type="str", default="none", choices=["none", "isolcpus", "nohz_full"]),
    emulator_threads=dict(type="str", default="housekeeping", choices=["housekeeping", "dedicated"]),
    hugepage_size=dict(type="str", default="auto", choices=["auto", "2M", "1G"]),
    hugepages_percent=dict(type="float"),
    hugepages_per_node=dict(type="dict"),
    host_reserved_memory_mb=dict(type="int"),
    zfs_arc_max_mb=dict(type="int"),
    guest_overhead_mb=dict(type="int", default=128),
    guest_spanning=dict(type="bool", default=True),
    iommu=dict(type="bool", default=False),
    iommu_passthrough=dict(type="bool", default=False),
    guests=dict(type="list", elements="dict", default=[], options=GUEST_OPTIONS),
    sections=dict(type="dict"),
    # kvm_host parts gathered afresh (the sections asked for are then recomputed)
    refresh=dict(type="list", elements="str", default=[]),
    # sections whose kvm_host parts are gathered too, in the one gathering of this call
    # (site.yml asks for every role's at once, so the play gathers facts once per host)
    facts_for=dict(type="list", elements="str", default=[]),
    # false: the plan goes back as the result's kvm_host_plan key, not as a fact
    as_fact=dict(type="bool", default=True),
)

# The options of a host_plan task that are not policy (no kvmops_plan_<option> variable).
TASK_OPTIONS = ("facts", "sections", "refresh", "facts_for", "as_fact")

MUTUALLY_EXCLUSIVE = [["hugepages_percent", "hugepages_per_node"]]


class PlanError(ValueError):
    """An invalid policy or facts; ``option`` names the culprit, the message starts with it."""

    def __init__(self, option, message):
        self.option = option
        super(PlanError, self).__init__("%s: %s" % (option, message))


def normalize_policy(policy):
    """Validate ``policy`` against ARGUMENT_SPEC; return it with defaults filled in."""
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise PlanError("policy", "must be a dict, got %s" % type(policy).__name__)
    guests = policy.get("guests")
    if guests is not None:
        if not isinstance(guests, list):
            raise PlanError("guests", "must be a list of dicts, got %s" % type(guests).__name__)
        for position, guest in enumerate(guests):
            if not isinstance(guest, dict):
                raise PlanError("guests", "entry %d must be a dict, got %s" % (position, type(guest).__name__))
    validator = ArgumentSpecValidator(ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE)
    result = validator.validate(dict(policy))
    if result.error_messages:
        error = result.errors.errors[0]
        message = result.error_messages[0]
        if isinstance(error, UnsupportedError):
            unknown = message.split(".")[0].split(",")[0].strip()
            raise PlanError(unknown, "unsupported parameter(s) %s" % message)
        raise PlanError(_first_option_named(message), message)
    return result.validated_parameters


def _first_option_named(message):
    quoted = re.findall(r"'([a-z_]+)'", message)
    for name in quoted:
        if name in ARGUMENT_SPEC:
            return name
        if name in GUEST_OPTIONS:
            return "guests"
    for name in sorted(ARGUMENT_SPEC, key=len, reverse=True):
        if re.search(r"\b%s\b" % name, message):
            return name
    return "policy"


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_section_options(section, spec, options):
    """Validate a role's section options against ``spec``; return them with defaults.

    Error messages start with the role variable (``<section>_<option>``), which is what
    the operator set: ``hugepages_thp: value of thp must be one of ...``.
    """
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise PlanError(section, "options must be a dict, got %s" % type(options).__name__)
    options = dict((k, v) for k, v in options.items() if v is not None or spec.get(k, {}).get("default") is None)
    result = ArgumentSpecValidator(spec).validate(options)
    if result.error_messages:
        message = result.error_messages[0]
        names = [name for name in sorted(spec, key=len, reverse=True) if re.search(r"\b%s\b" % name, message)]
        if isinstance(result.errors.errors[0], UnsupportedError):
            names = [message.split(".")[0].split(",")[0].strip()]
        raise PlanError("%s_%s" % (section, names[0]) if names else section, message)
    validated = result.validated_parameters
    for name in sorted(spec):
        value = validated.get(name)
        if spec[name].get("type") == "path" and value is not None and not str(value).startswith("/"):
            # the modules refuse a relative path too, but only when the role reaches them
            raise PlanError("%s_%s" % (section, name), "must be an absolute path, got %r" % (value,))
    return validated
