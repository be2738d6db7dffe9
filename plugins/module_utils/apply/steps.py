# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The apply steps of the generic section keys, one function each, shared by the module
of each step (config_files, qemu_conf_lines, sysctl_dropin, kernel_cmdline) and by
section_apply, which runs several of them in one module execution (one remote Python
start per role instead of one per step; docs/fleet.md).

Each step takes an AnsibleModule-like object (``check_mode``, ``_diff``, ``run_command``,
``get_bin_path``) and its own parameters, changes the host only outside check mode, and
returns its result as a dict with ``changed``, ``warnings`` and ``diff`` (a list of
Ansible diff dicts). It raises StepError, carrying what the module should fail with.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.config_files import (
    ConfigError,
    check_lines,
    edit_lines,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.fstab import (
    FSTAB,
    FstabError,
    check_entry,
    fstab_text,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl import (
    SysctlError,
    proc_path,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.sysctl_dropin import (
    TreeHost,
    run as run_sysctl_dropin,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.apply import apply_change
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.change import plan_change
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_cfg import grub_cfg_cmdline
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.pending import reboot_ignored
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.status import compare
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import CmdlineError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common import files as fileio
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from ansible_collections.kvmops.hypervisor.plugins.module_utils.facts.services import parse_libvirt_conf
from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan.qemu_conf import check_text


# The steps of section_apply, in the order it runs them. fstab before lines: hugepages' lines
# name in qemu.conf the hugetlbfs mounts whose fstab lines fstab writes.
STEPS = ("kernel_cmdline", "files", "fstab", "lines", "qemu_conf", "sysctl")


class StepError(Exception):
    """A step that failed: ``msg`` and the extra keys of the failed result."""

    def __init__(self, msg, **extra):
        Exception.__init__(self, msg)
        self.msg = msg
        self.extra = extra


def _diffs(value):
    if not value:
        return []
    return list(value) if isinstance(value, list) else [value]


# ----------------------------------------------------------------------------- files, lines

def wanted_texts(files, lines, root):
    """path -> new text (None: absent) for every file of ``files`` and every file of
    ``lines`` that exists; the ``lines`` files that do not (left missing)."""
    check_lines(lines)
    wanted = {}
    skipped = []
    for path, text in sorted(files.items()):
        if not os.path.isabs(path):
            raise ConfigError("files: %r is not an absolute path" % path)
        if text is not None and not isinstance(text, str):
            raise ConfigError("files[%s] must be text or null" % path)
        wanted[path] = text
    for path, keys in sorted(lines.items()):
        if not os.path.isabs(path):
            raise ConfigError("lines: %r is not an absolute path" % path)
        if path in wanted:
            raise ConfigError("lines: %s is also in files" % path)
        state = fileio.FileState(Reader(root).path(path))
        if not state.exists:
            if any(line is not None for line in keys.values()):
                skipped.append(path)
            continue
        wanted[path] = edit_lines(state.text, keys)
    return wanted, skipped


def config_files(module, files, lines, root="/"):
    """Files owned whole and KEY= lines (kvmops.hypervisor.config_files)."""
    files = files or {}
    lines = lines or {}
    try:
        wanted, skipped = wanted_texts(files, lines, root)
    except ConfigError as exc:
        raise StepError(str(exc))
    changed_files = []
    diffs = []
    for path, text in sorted(wanted.items()):
        full = Reader(root).path(path)
        state = fileio.FileState(full)
        # A file of lines keeps its mode (libvirt's qemu.conf is 0600); owned files are 0644.
        mode = state.mode if (path in lines and state.mode is not None) else fileio.DEFAULT_MODE
        if text is None:
            if not os.path.lexists(full):
                continue
        elif not fileio.needs_write(full, text, mode):
            continue
        changed_files.append(path)
        diffs.append(fileio.diff(full, text, label=path))
        if module.check_mode:
            continue
        try:
            if text is None:
                fileio.remove(full)
            else:
                fileio.write_text(full, text, mode=mode)
        except (IOError, OSError) as exc:
            raise StepError("%s: %s (files written before it: %s)" % (path, exc, ", ".join(changed_files[:-1]) or "none"),
                            changed_files=changed_files[:-1])
    return dict(changed=bool(changed_files), changed_files=changed_files, missing_files=skipped, diff=diffs,
                warnings=[])


# ----------------------------------------------------------------------------- fstab

def fstab(module, entries, root="/"):
    """A line per entry ({path, src, fstype, opts, dump, passno}, every key given) in
    /etc/fstab under ``root``, written as ansible.posix.mount (state present) writes it
    (apply/fstab.py): a host it converged sees no change. Only the lines of the entries'
    mount points can change; the file keeps its mode and owner (a missing one is created
    0644) and is written atomically, once, only when its text changes."""
    if not entries:
        return dict(changed=False, changed_mounts=[], diff=[], warnings=[])
    try:
        for entry in entries:
            check_entry(entry)
    except FstabError as exc:
        raise StepError(str(exc))
    reader = Reader(root)
    # a link (rare) is followed, as ansible.posix's open(path, 'w') follows it
    relpath = reader.realpath(FSTAB) or FSTAB
    full = reader.path(relpath)
    state = fileio.FileState(full)
    if not state.exists and os.path.lexists(full):
        raise StepError("%s: cannot be read as UTF-8 text; not written" % FSTAB)
    text, changed_paths = fstab_text(state.text, entries)
    if state.exists and text == state.text:
        return dict(changed=False, changed_mounts=[], diff=[], warnings=[])
    diff = fileio.diff(full, text, label=FSTAB)
    if not module.check_mode:
        mode = state.mode if state.exists else fileio.DEFAULT_MODE
        # the owner is kept when we can set it (root); otherwise the file stays ours
        owner = state.owner if (state.exists and os.geteuid() == 0) else None
        try:
            fileio.write_text(full, text, mode=mode, owner=owner)
        except (IOError, OSError) as exc:
            raise StepError("%s: %s" % (FSTAB, exc))
    return dict(changed=True, changed_mounts=changed_paths, diff=[diff], warnings=[])


# ----------------------------------------------------------------------------- qemu.conf

def qemu_conf_lines(module, path, lines, root="/"):
    """KEY = value lines of libvirt's qemu.conf, checked with libvirt's grammar and key/type
    table before writing (kvmops.hypervisor.qemu_conf_lines)."""
    if not path.startswith("/"):
        raise StepError("path: %r is not an absolute path; give /etc/libvirt/qemu.conf" % path)
    try:
        check_lines({path: lines})
    except ConfigError as exc:
        raise StepError(str(exc))
    full = Reader(root).path(path)
    state = fileio.FileState(full)
    if not state.exists:
        return dict(changed=False, missing=True, diff=[], warnings=[
            "%s does not exist (libvirt's QEMU driver is not installed): nothing written" % path])
    text = edit_lines(state.text, lines)
    problems = check_text(text, parse_libvirt_conf, lines)
    if problems:
        raise StepError("lines: %s not written, libvirt would refuse it: %s" % (path, "; ".join(problems)),
                        missing=False)
    settings = parse_libvirt_conf(text)
    mode = state.mode if state.mode is not None else fileio.DEFAULT_MODE
    if not fileio.needs_write(full, text, mode):
        return dict(changed=False, missing=False, settings=settings, diff=[], warnings=[])
    diff = fileio.diff(full, text, label=path)
    if not module.check_mode:
        try:
            fileio.write_text(full, text, mode=mode)
        except (IOError, OSError) as exc:
            raise StepError("%s: %s" % (path, exc))
    return dict(changed=True, missing=False, settings=settings, diff=[diff], warnings=[])


# ----------------------------------------------------------------------------- sysctl drop-in

class LiveHost(TreeHost):
    """The machine itself (root ``/``): files as a TreeHost, the kernel through real commands."""

    live = True

    def __init__(self, module):
        super(LiveHost, self).__init__("/")
        self.module = module

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
            with open(self.path(proc_path(key)), "w") as handle:
                handle.write(value)
            return None
        except (IOError, OSError) as exc:
            return str(exc)


def sysctl_host(module, root):
    """The real machine for root ``/``; any other root is a tree that runs no command."""
    root = root or "/"
    if root.rstrip("/") == "":
        return LiveHost(module)
    return TreeHost(root)


def sysctl_dropin(module, params):
    """The drop-in written, applied and verified (kvmops.hypervisor.sysctl_dropin);
    ``params`` as that module's."""
    try:
        result, warnings = run_sysctl_dropin(params, sysctl_host(module, params.get("root")), module.check_mode)
    except (SysctlError, IOError, OSError) as exc:
        raise StepError(str(exc))
    result["diff"] = _diffs(result.get("diff"))
    result["warnings"] = list(warnings)
    return result


# ----------------------------------------------------------------------------- kernel command line

def kernel_cmdline(module, params):
    """One owner's kernel arguments in the boot configuration, or the comparison of the next
    boot with the running kernel without an owner (kvmops.hypervisor.kernel_cmdline);
    ``params`` as that module's. The result's ``warnings`` are also the module's."""
    reader = Reader(params["root"])
    # The seam for tests: under another root, files are written there and no command runs
    # (grub-mkconfig, grubby... would change the running system, not the tree).
    on_host = os.path.realpath(params["root"]) == "/"

    def which(name):
        return module.get_bin_path(name)

    def run(argv):
        return module.run_command(argv)

    def shell_check(relpath):
        # `sh -n` reads the file and runs nothing (in check mode too); like every command,
        # not under another root (the test seam)
        rc, _out, err = module.run_command(["sh", "-n", reader.path(relpath)])
        return None if rc == 0 else (err.strip() or "sh -n exit %d" % rc)

    try:
        change = plan_change(reader, owner=params["owner"], args=params["args"],
                             state=params["state"], backend=params["backend"], which=which,
                             regenerate_only=params["regenerate_only"],
                             shell_check=shell_check if on_host else None)
        if params["regenerate_only"] and change.backend != "grub":
            change.changed = False
        ran = regenerated = False
        do_regenerate = params["regenerate"] or params["regenerate_only"]
        if not module.check_mode:
            ran, regenerated = apply_change(reader, change, run if on_host else None,
                                            regenerate=do_regenerate)
    except CmdlineError as exc:
        raise StepError(str(exc), **({"warnings": reader.warnings} if reader.warnings else {}))
    except (IOError, OSError) as exc:
        raise StepError("kernel_cmdline: %s" % exc)

    pending = change.pending
    if ran:
        pending = grub_cfg_cmdline(reader, change.grub["cfg"], change.grub["env"])
    regenerate_needed = bool(change.backend == "grub" and change.regenerate and not ran)
    changed = change.changed
    if params["regenerate_only"] and not module.check_mode:
        changed = regenerated
    if change.commands_skipped:
        reader.warn("root is %s, not /: these commands were not run, they would act on the "
                    "running system, not on that tree: %s" % (
                        params["root"], "; ".join(" ".join(argv) for argv in change.commands_skipped)))
    result = dict(
        changed=changed,
        backend=change.backend,
        tokens=change.tokens,
        present_elsewhere=change.skipped,
        reboot_ignored=None,
        regenerated=regenerated,
        regenerate_needed=regenerate_needed,
        files=sorted(change.files),
        commands=change.commands,
        commands_skipped=change.commands_skipped,
    )
    # pending, running, owned_keys, pending_owned, running_owned, reboot_required: the
    # comparison kvm_host.kernel.boot also makes (cmdline/status.py)
    result.update(compare(reader, change, pending))
    if result["reboot_required"]:
        result["reboot_ignored"] = reboot_ignored(reader, result["pending_owned"])
    result["warnings"] = list(reader.warnings)
    result["diff"] = []
    if module._diff:
        result["diff"] = [dict(before=change.before + "\n", after=change.after + "\n",
                               before_header="%s (before)" % change.before_header,
                               after_header="%s (after)" % change.before_header)]
    return result
