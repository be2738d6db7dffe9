# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysctl profiles checked against a kernel's /proc/sys: which keys exist, can be set,
need a kernel module, and run with another value.

Every read goes through :class:`sysfs.Reader` under a ``root``; nothing here writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from collections import OrderedDict

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    proc_path,
)

# Keys that only exist once a kernel module is loaded: prefix -> module.
# The marker exists as soon as the module is active (loaded or built in): then a
# missing key of that prefix is unknown, not pending.
MODULE_PREFIXES = (
    ("net.bridge.", "br_netfilter", "/proc/sys/net/bridge"),
    ("net.netfilter.", "nf_conntrack", "/proc/sys/net/netfilter"),
    ("net.nf_conntrack_max", "nf_conntrack", "/proc/sys/net/netfilter"),
)


def module_for(key):
    """Kernel module whose loading creates ``key``, or None."""
    for prefix, module, _marker in MODULE_PREFIXES:
        if key == prefix or key.startswith(prefix):
            return module
    return None


def module_active(reader, module):
    """A module is active (loaded or built in) when its sysctl directory exists."""
    return any(reader.isdir(marker) for _prefix, name, marker in MODULE_PREFIXES if name == module)


_module_active = module_active


def _writable(reader, relpath):
    """Whether a /proc/sys entry has a write permission bit (root included: procfs
    checks the mode of sysctl entries even for root)."""
    try:
        return bool(os.stat(reader.path(relpath)).st_mode & 0o222)
    except (IOError, OSError):
        return False


def inspect(reader, profile):
    """Check a merged profile against the kernel under ``reader.root``.

    Returns a dict: ``checked`` (False when there is no /proc/sys to check against),
    ``modules`` (kernel modules the profile needs), ``modules_missing`` (those whose keys
    do not exist yet), ``unchecked`` (key -> module, keys of missing modules),
    ``unknown`` (keys with no /proc/sys entry), ``readonly`` (keys whose entry has no
    write permission: it cannot be set here, like net.core.rmem_max in a network namespace
    other than the initial one), ``live`` (key -> running value or None) and ``differ``
    (keys whose running value is not the profile's).
    """
    result = {
        "checked": reader.isdir("/proc/sys"),
        "modules": [],
        "modules_missing": [],
        "unchecked": {},
        "unknown": [],
        "readonly": [],
        "live": {},
        "differ": [],
    }
    by_module = OrderedDict()
    for key in profile:
        module = module_for(key)
        if module:
            by_module.setdefault(module, []).append(key)
    result["modules"] = sorted(by_module)
    if not result["checked"]:
        return result
    for module, keys in by_module.items():
        if not _module_active(reader, module):
            result["modules_missing"].append(module)
            for key in keys:
                result["unchecked"][key] = module
    result["modules_missing"].sort()
    for key, value in profile.items():
        if key in result["unchecked"]:
            continue
        path = proc_path(key)
        if not reader.exists(path):
            result["unknown"].append(key)
            continue
        if not _writable(reader, path):
            result["readonly"].append(key)
        text = reader.text(path)
        live = " ".join(text.split()) if text is not None else None
        result["live"][key] = live
        if live != value:
            result["differ"].append(key)
    return result


def unchecked_warnings(state):
    """One warning per inactive kernel module, naming the keys left unchecked because of it."""
    by_module = OrderedDict()
    for key, module in sorted(state["unchecked"].items()):
        by_module.setdefault(module, []).append(key)
    return ["kernel module %s is not active, so its keys are not checked yet: %s" % (module, ", ".join(keys))
            for module, keys in sorted(by_module.items())]


def check(reader, profile, origins, labels, ignore_unknown, warnings):
    """Inspect ``profile`` against the kernel; unknown or read-only keys fail (SysctlError
    naming them and where they came from) or, with ``ignore_unknown``, leave the profile
    (``profile`` is changed in place) with a warning. Returns the inspect() state."""
    state = inspect(reader, profile)
    if not state["checked"]:
        warnings.append("no /proc/sys under %s: the keys were not checked against a kernel" % reader.root)
    problems = []
    if state["unknown"]:
        problems.append("unknown sysctl keys, no /proc/sys entry on this kernel: %s"
                        % ", ".join("%s (from %s)" % (key, origins.get(key)) for key in state["unknown"]))
    if state["readonly"]:
        problems.append("read-only sysctl keys, they cannot be set here: %s"
                        % ", ".join("%s (from %s)" % (key, origins.get(key)) for key in state["readonly"]))
    if problems:
        if not ignore_unknown:
            raise SysctlError("%s. Remove them or list them in %s (or ignore unknown keys)" % ("; ".join(problems), labels["removals"]))
        warnings.append("left out of the profile: %s" % "; ".join(problems))
        for key in state["unknown"] + state["readonly"]:
            profile.pop(key)
            state["live"].pop(key, None)
            if key in state["differ"]:
                state["differ"].remove(key)
    return state
