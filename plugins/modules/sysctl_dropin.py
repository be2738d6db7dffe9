#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: sysctl_dropin
short_description: Write a checked sysctl profile as one drop-in, apply it and verify it
version_added: 0.1.0
description:
  - Merges the profile like M(kvmops.hypervisor.sysctl_check), loads the kernel modules its
    keys need (C(br_netfilter) for C(net.bridge.*)), checks every key against the running
    kernel, writes the drop-in O(path) and one C(kvmops-MODULE.conf) per kernel module in
    O(modules_load_dir), applies with C(sysctl -e --system) (every drop-in, in the order
    boot applies them) and verifies that each key of the profile now runs with its value.
  - Nothing is written before every check passed. It fails on bad input (the message names
    the variable, see O(labels)), on keys the kernel does not know or cannot set here
    (unless O(ignore_unknown)), and on keys that a file read after O(path) sets to another
    value (that file would win at boot and on every C(sysctl --system)).
  - When the kernel rejects a value, the previous files and the previous running values of
    the profile's keys are put back, kernel modules loaded by this run are unloaded, and
    the module fails naming each key with what the kernel said.
  - Applies when a file changed or when a running value differs from the profile (drift,
    also reported as a warning). C(changed) follows the files and the running values.
  - One module run, so a converged host costs one task; the C(kvmops.hypervisor.sysctl_net)
    role is this module.
author:
  - kvmops maintainers (@kvmops)
extends_documentation_fragment:
  - kvmops.hypervisor.sysctl_profile
options:
  modules_load_dir:
    description:
      - Directory of the C(modules-load.d) files that load the kernel modules the profile's
        keys need at boot (systemd-modules-load runs before systemd-sysctl).
    type: path
    default: /etc/modules-load.d
  apply:
    description:
      - Load the kernel modules, apply the drop-ins to the running kernel and verify.
      - V(false) writes the files only and touches no running state (an image or a chroot);
        keys are still checked against C(/proc/sys) under O(root) when it exists.
      - V(true) needs O(root=/).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Predicts the files that would change (with O(ignore_unknown) keys left out), the
      running values that would change and the kernel modules that would be loaded.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: One diff per file, and one of the running values that differ from the profile.
notes:
  - In check mode, keys of a kernel module that is not loaded yet cannot be checked; they are
    reported in RV(unchecked) and checked by the real run after loading the module.
  - Kernel modules no longer needed keep their C(kvmops-MODULE.conf); remove it by hand.
seealso:
  - module: kvmops.hypervisor.sysctl_check
  - module: ansible.posix.sysctl
"""

EXAMPLES = r"""
- name: Network sysctls of a hypervisor, one drop-in, applied and verified
  kvmops.hypervisor.sysctl_dropin:
    settings:
      net.core.somaxconn: 4096
      net.ipv4.tcp_rmem: [4096, 131072, 33554432]
      net.bridge.bridge-nf-call-iptables: 0
    ip_forward: auto
    libvirt_networks: "{{ kvm_host.libvirt.networks | default([]) }}"
    path: /etc/sysctl.d/90-kvmops-net.conf
    header: "Managed by Ansible"

- name: Write the files into an image only
  kvmops.hypervisor.sysctl_dropin:
    settings:
      net.core.somaxconn: 4096
    apply: false
"""

RETURN = r"""
profile:
  description: The merged profile, canonical key to the value string written to the drop-in.
  returned: always
  type: dict
  sample: {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "4096"}
entries:
  description: The profile as a list, with the variable each key came from and its documentation.
  returned: always
  type: list
  elements: dict
content:
  description: Text of the drop-in file.
  returned: always
  type: str
files:
  description: Every file the profile manages, path to whether it was (or in check mode would be) written.
  returned: always
  type: dict
  sample: {"/etc/modules-load.d/kvmops-br_netfilter.conf": false, "/etc/sysctl.d/90-kvmops-net.conf": true}
differ:
  description: Keys whose running value differed from the profile before this run (the ones set, or that would be).
  returned: always
  type: list
  elements: str
live:
  description: Running value of each key after this run (before it in check mode).
  returned: always
  type: dict
applied:
  description: Whether C(sysctl --system) ran (or in check mode would run).
  returned: always
  type: bool
modules:
  description: Kernel modules the profile's keys need.
  returned: always
  type: list
  elements: str
modules_loaded:
  description: Kernel modules this run loaded (or in check mode would load).
  returned: always
  type: list
  elements: str
unknown:
  description: Keys with no C(/proc/sys) entry, left out (with O(ignore_unknown)).
  returned: always
  type: list
  elements: str
readonly:
  description: Keys that cannot be set here, left out (with O(ignore_unknown)).
  returned: always
  type: list
  elements: str
unchecked:
  description: Keys not checked because their kernel module is not active (check mode, or O(apply=false)).
  returned: always
  type: dict
shadowed:
  description: Keys a file read after O(path) sets again to the same value, key to that file.
  returned: always
  type: dict
checked:
  description: Whether C(/proc/sys) exists under O(root), that is whether keys were checked at all.
  returned: always
  type: bool
ip_forward:
  description: The decided C(net.ipv4.ip_forward) and why, when O(ip_forward) is set.
  returned: when O(ip_forward) is set
  type: dict
"""

import os
import tempfile
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    prepare,
    proc_path,
    profile_argument_spec,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_conf import (
    conflicts,
    entries,
    modules_load_text,
    render,
    shadowed,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_proc import (
    check,
    inspect,
    unchecked_warnings,
)

FILE_MODE = 0o644


class LiveHost(object):
    """The side effects of a run on the machine itself; tests pass an object with the same methods."""

    def __init__(self, module, root="/"):
        self.module = module
        self.root = root

    def _command(self, argv):
        rc, out, err = self.module.run_command(argv)
        return rc, (err or out or "").strip()

    def modprobe(self, name, remove=False):
        """Load (or unload) a kernel module; the error text, or None."""
        argv = [self.module.get_bin_path("modprobe", required=True)] + (["-r"] if remove else []) + ["--", name]
        rc, text = self._command(argv)
        return None if rc == 0 else (text or "modprobe exited %d" % rc)

    def sysctl_system(self):
        """``sysctl -e --system``: (rc, its error output)."""
        return self._command([self.module.get_bin_path("sysctl", required=True), "-e", "--system"])

    def set_value(self, key, value):
        """Write one running value (to restore it); the error text, or None."""
        try:
            with open(os.path.join(self.root, proc_path(key).lstrip("/")), "w") as handle:
                handle.write(value)
            return None
        except (IOError, OSError) as exc:
            return str(exc)

    def write(self, path, text):
        """Replace ``path`` atomically with ``text``, mode 0644, owned by root when we are root."""
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".kvmops-")
        with os.fdopen(handle, "w") as out:
            out.write(text)
        self.module.atomic_move(tmp, path)
        fix_attributes(path)

    def remove(self, path):
        os.unlink(path)


def fix_attributes(path):
    os.chmod(path, FILE_MODE)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)


def file_state(path):
    """(text or None when absent, whether mode and owner are as we write them)."""
    try:
        with open(path) as handle:
            text = handle.read()
        info = os.stat(path)
    except (IOError, OSError):
        return None, False
    attributes_ok = (info.st_mode & 0o7777) == FILE_MODE and (os.geteuid() != 0 or (info.st_uid, info.st_gid) == (0, 0))
    return text, attributes_ok


def describe_conflicts(found, profile, origins, labels):
    parts = ["%s = %s in %s overrides the profile's %s (from %s)"
             % (key, where["value"], where["file"], profile[key], origins.get(key)) for key, where in sorted(found.items())]
    return ("%s. A file read later wins at boot and on sysctl --system: remove the key there, set the same "
            "value in %s, or list the key in %s" % ("; ".join(parts), labels["overrides"], labels["removals"]))


def values_text(values, keys):
    return "".join("%s = %s\n" % (key, values.get(key)) for key in keys)


def run(params, host, check_mode=False):
    """params -> (result, warnings); side effects go through ``host``. Raises SysctlError."""
    profile, origins, sources, labels, result, warnings = prepare(params)
    root = params.get("root") or "/"
    path = params["path"]
    apply = params["apply"]
    header = params.get("header") or None
    reader = Reader(root)

    def under_root(abspath):
        return os.path.join(root, abspath.lstrip("/"))

    state = check(reader, profile, origins, labels, params["ignore_unknown"], warnings)
    found = conflicts(reader, path, profile)
    if found:
        raise SysctlError(describe_conflicts(found, profile, origins, labels))

    # Kernel modules first: their keys exist only once they are loaded.
    loaded = []
    missing = list(state["modules_missing"]) if apply and state["checked"] else []
    if missing and not check_mode:
        for name in missing:
            error = host.modprobe(name)
            if error:
                unload(host, loaded, warnings)
                raise SysctlError("cannot load kernel module %s, which %s need: %s"
                                  % (name, ", ".join(k for k, m in sorted(state["unchecked"].items()) if m == name), error))
            loaded.append(name)
        try:
            state = check(reader, profile, origins, labels, params["ignore_unknown"], warnings)
            found = conflicts(reader, path, profile)
            if found:
                raise SysctlError(describe_conflicts(found, profile, origins, labels))
        except SysctlError:
            unload(host, loaded, warnings)
            raise
    warnings.extend(unchecked_warnings(state))

    content = render(profile, sources, header)
    wanted = OrderedDict((os.path.join(params["modules_load_dir"], "kvmops-%s.conf" % name),
                          modules_load_text(name, path, header)) for name in state["modules"])
    wanted[path] = content
    before = {}
    changed_files = []
    for target, text in wanted.items():
        current, attributes_ok = file_state(under_root(target))
        before[target] = current
        if current != text or not attributes_ok:
            changed_files.append(target)
    differ = list(state["differ"]) + ([key for key in profile if key in state["unchecked"]] if missing else [])
    must_apply = bool(apply and state["checked"] and (changed_files or differ or missing))
    if apply and state["differ"] and not changed_files:
        warnings.append("running values differ from the profile (drift), %s: %s"
                        % ("would set them again" if check_mode else "set them again",
                           ", ".join("%s %s -> %s" % (key, state["live"].get(key), profile[key]) for key in state["differ"])))

    diff = [{"before_header": target, "after_header": target, "before": before[target] or "", "after": wanted[target]}
            for target in changed_files]
    if must_apply and differ:
        diff.append({"before_header": "running values", "after_header": "running values",
                     "before": values_text(state["live"], differ), "after": values_text(profile, differ)})

    live = dict(state["live"])
    if not check_mode:
        for target in changed_files:
            host.write(under_root(target), wanted[target])
        if must_apply:
            live = apply_and_verify(host, reader, profile, state, before, changed_files, loaded, under_root, warnings)

    result.update({
        "changed": bool(changed_files) or must_apply,
        "profile": dict(profile),
        "entries": entries(profile, origins, sources),
        "content": content,
        "files": dict((target, target in changed_files) for target in wanted),
        "differ": differ,
        "live": live,
        "applied": must_apply,
        "modules": state["modules"],
        "modules_loaded": loaded if not check_mode else missing,
        "unknown": state["unknown"],
        "readonly": state["readonly"],
        "unchecked": state["unchecked"],
        "shadowed": shadowed(reader, path, list(profile)),
        "checked": state["checked"],
        "diff": diff,
    })
    warnings.extend(reader.warnings)
    return result, warnings


def unload(host, loaded, warnings):
    for name in reversed(loaded):
        error = host.modprobe(name, remove=True)
        if error:
            warnings.append("could not unload kernel module %s again: %s" % (name, error))


def apply_and_verify(host, reader, profile, state, before, changed_files, loaded, under_root, warnings):
    """sysctl --system, then every key must run with its value; otherwise put back the files
    and running values as they were and raise. Returns the running values."""
    rc, errors = host.sysctl_system()
    after = inspect(reader, profile)
    if not after["differ"]:
        if rc != 0:
            # our keys are all set: the complaint is about another drop-in
            warnings.append("sysctl --system reported (about other files): %s" % errors)
        return after["live"]
    for target in changed_files:
        if before[target] is None:
            host.remove(under_root(target))
        else:
            host.write(under_root(target), before[target])
    for key, value in state["live"].items():
        if value is not None and after["live"].get(key) != value:
            error = host.set_value(key, value)
            if error:
                warnings.append("could not restore %s to %s: %s" % (key, value, error))
    unload(host, loaded, warnings)
    wrong = ", ".join("%s is %r, want %r" % (key, after["live"].get(key), profile[key]) for key in after["differ"])
    raise SysctlError("the kernel did not take the profile: %s. sysctl --system said: %s. "
                      "The previous files and running values are back in place"
                      % (wrong, errors or "nothing (exit %d)" % rc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile_argument_spec(),
            modules_load_dir=dict(type="path", default="/etc/modules-load.d"),
            apply=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if module.params["apply"] and (module.params["root"] or "/").rstrip("/") != "":
        module.fail_json(msg="apply=true changes the running kernel, so it needs root=/ (got root=%s); "
                             "use apply=false to write files under another root" % module.params["root"])
    try:
        result, warnings = run(module.params, LiveHost(module, module.params["root"]), module.check_mode)
    except SysctlError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
