# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run of the ``sysctl_dropin`` module: check a profile against the kernel, load the
kernel modules its keys need, write the drop-in (and its modules-load.d files), apply
with ``sysctl -e --system``, verify, and put everything back when the kernel rejects a
value.

Every side effect goes through a *host* (see :class:`TreeHost` for the interface). The
module passes a host that runs the real commands when ``root`` is ``/`` and a
:class:`TreeHost`, which runs no command at all, for any other root; tests pass a fake
kernel on a tree. Files are written only through :mod:`common.files`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from collections import OrderedDict

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common import files
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    prepare,
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


class TreeHost(object):
    """A target whose files live under ``root`` and that has no running kernel: an image,
    a chroot, a test tree. It is also the interface every host of :func:`run` has.

    Files (paths are the target's, ``/etc/sysctl.d/...``; the host puts them under
    ``root``, and writes only with :func:`common.files.write_text` / ``files.remove``):

    - ``reader()``: a fresh :class:`sysfs.Reader` under ``root`` (``/proc/sys``, ``sysctl.d``)
    - ``read(path)``: the text of a file, None when absent
    - ``needs_write(path, text)``: whether text, mode (0644) or owner differ
    - ``write(path, text)``, ``remove(path)``

    The running kernel, only when ``live`` is true (:func:`run` asks for them only then):

    - ``modprobe(name, remove=False)``: load or unload a kernel module; error text or None
    - ``sysctl_system()``: ``sysctl -e --system``, ``(rc, error text)``
    - ``set_value(key, value)``: write one running value (to restore it); error text or None

    A tree host refuses those three: there is no kernel under another root.
    """

    live = False

    def __init__(self, root="/"):
        self.root = root or "/"

    def path(self, target):
        """Where ``target`` (an absolute path on the target) is on this machine."""
        return os.path.join(self.root, target.lstrip("/"))

    def reader(self):
        return Reader(self.root)

    def read(self, path):
        return files.FileState(self.path(path)).text

    def needs_write(self, path, text):
        return files.needs_write(self.path(path), text)

    def write(self, path, text):
        files.write_text(self.path(path), text)

    def remove(self, path):
        files.remove(self.path(path))

    def _no_kernel(self, what):
        raise SysctlError("%s: there is no running kernel under root %s" % (what, self.root))

    def modprobe(self, name, remove=False):
        self._no_kernel("modprobe %s%s" % ("-r " if remove else "", name))

    def sysctl_system(self):
        self._no_kernel("sysctl --system")

    def set_value(self, key, value):
        self._no_kernel("set %s to %s" % (key, value))


def describe_conflicts(found, profile, origins, labels):
    parts = ["%s = %s in %s overrides the profile's %s (from %s)"
             % (key, where["value"], where["file"], profile[key], origins.get(key)) for key, where in sorted(found.items())]
    return ("%s. A file read later wins at boot and on sysctl --system: remove the key there, set the same "
            "value in %s, or list the key in %s" % ("; ".join(parts), labels["overrides"], labels["removals"]))


def values_text(values, keys):
    return "".join("%s = %s\n" % (key, values.get(key)) for key in keys)


def _check(reader, profile, origins, labels, params, warnings):
    """check() plus the files read after ours: the inspect() state; raises SysctlError."""
    state = check(reader, profile, origins, labels, params["ignore_unknown"], warnings)
    found = conflicts(reader, params["path"], profile)
    if found:
        raise SysctlError(describe_conflicts(found, profile, origins, labels))
    return state


def run(params, host, check_mode=False):
    """params -> (result, warnings); side effects go through ``host``. Raises SysctlError.

    ``params`` are the module's options (``root`` is not read here: the host is the root).
    """
    profile, origins, sources, labels, result, warnings = prepare(params)
    path = params["path"]
    apply = params["apply"]
    header = params.get("header") or None
    if apply and not host.live:
        raise SysctlError("apply=true changes the running kernel, so it needs root=/ (got root=%s); "
                          "use apply=false to write files under another root" % host.root)
    reader = host.reader()
    state = _check(reader, profile, origins, labels, params, warnings)

    # Kernel modules first: their keys exist only once they are loaded. With
    # load_modules false nothing is loaded; the keys of an inactive module stay unchecked.
    load_modules = params.get("load_modules", True)
    loaded = []
    missing = list(state["modules_missing"]) if apply and state["checked"] and load_modules else []
    if missing and not check_mode:
        for name in missing:
            error = host.modprobe(name)
            if error:
                unload(host, loaded, warnings)
                raise SysctlError("cannot load kernel module %s, which %s need: %s"
                                  % (name, ", ".join(k for k, m in sorted(state["unchecked"].items()) if m == name), error))
            loaded.append(name)
        try:
            state = _check(reader, profile, origins, labels, params, warnings)
        except SysctlError:
            unload(host, loaded, warnings)
            raise
    warnings.extend(unchecked_warnings(state))
    if not profile:
        unload(host, loaded, warnings)  # its keys were left out: nothing needs it
        result.update(no_dropin(host, path, state, check_mode))
        warnings.extend(reader.warnings)
        return result, warnings

    content = render(profile, sources, header)
    wanted = OrderedDict((os.path.join(params["modules_load_dir"], "kvmops-%s.conf" % name),
                          modules_load_text(name, path, header)) for name in state["modules"] if load_modules)
    wanted[path] = content
    before = dict((target, host.read(target)) for target in wanted)
    changed_files = [target for target, text in wanted.items() if host.needs_write(target, text)]
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
            host.write(target, wanted[target])
        if must_apply:
            live = apply_and_verify(host, reader, profile, state, before, changed_files, loaded, warnings)

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


def no_dropin(host, path, state, check_mode):
    """An empty profile (after removals and ignore_unknown) is no drop-in: remove the one
    at ``path`` if there is one, apply nothing. Running values stay until the next boot."""
    before = host.read(path)
    if before is not None and not check_mode:
        host.remove(path)
    diff = [] if before is None else [
        {"before_header": path, "after_header": "%s (absent)" % path, "before": before, "after": ""}]
    return {
        "changed": before is not None, "profile": {}, "entries": [], "content": "",
        "files": {path: before is not None}, "differ": [], "live": {}, "applied": False,
        "modules": [], "modules_loaded": [], "unknown": state["unknown"], "readonly": state["readonly"],
        "unchecked": {}, "shadowed": {}, "checked": state["checked"], "diff": diff,
    }


def unload(host, loaded, warnings):
    for name in reversed(loaded):
        error = host.modprobe(name, remove=True)
        if error:
            warnings.append("could not unload kernel module %s again: %s" % (name, error))


def apply_and_verify(host, reader, profile, state, before, changed_files, loaded, warnings):
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
            host.remove(target)
        else:
            host.write(target, before[target])
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
