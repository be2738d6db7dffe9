# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan one kernel_cmdline call: the Change (files to write, commands to run, whether
GRUB needs regenerating, the command line before and after) computed from the host,
without writing anything. apply.py carries it out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.args import (
    normalize_args,
    validate_owner,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.backends import (
    GRUBBY_REPEAT_MSG,
    detect_backend,
    grub_paths,
    grubby_commands,
    kernel_install_base,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.bls import (
    bls_cmdline,
    bls_entries,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_cfg import (
    GRUB_VAR,
    grub_cfg_cmdline,
    read_grubenv,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_shell import (
    GRUB_DEFAULTS,
    first_file_dropping,
    grub_default_env,
    grub_default_steps,
    grub_default_tokens,
    grub_dropins,
    token_sources,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.merge import (
    edit_tokens,
    merge_owner,
    remove_tokens,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import (
    grub_dropin_path,
    grub_owners,
    is_kvmops_dropin,
    record_owners,
    record_path,
    removed_keys,
    render_grub_dropin,
    render_record,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.pending import (
    KERNEL_CMDLINE_FILE,
    pending_cmdline,
    predict_grub_pending,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    SEPARATOR,
    arg_key,
    join_cmdline,
    kernel_part,
    keys_of,
    project,
    split_cmdline,
)


class Change(object):
    """What one kernel_cmdline call will do, computed from the host without writing.

    Attributes: backend, files ({path: text or None to delete}), commands (argv lists),
    regenerate (GRUB config to regenerate: True/False), before/after (the command line
    the boot loader configuration gives, as text), pending (predicted tokens of the next
    boot once the configuration is regenerated), owned_keys, tokens (this owner's),
    skipped, changed; commands_skipped (argv lists apply_change did not run because it was
    given no runner).
    """

    def __init__(self):
        self.backend = None
        self.files = {}
        self.commands = []
        self.commands_skipped = []
        self.regenerate = False
        self.grub = None
        self.before = ""
        self.after = ""
        self.before_header = ""
        self.pending = None
        self.owned_keys = set()
        self.tokens = []
        self.skipped = []
        self.removed = []
        self.changed = False


def plan_change(reader, owner=None, args=None, state="present", backend="auto",
                which=None, regenerate_only=False, shell_check=None):
    """Compute the Change for one call (no writes). ``owner`` None: status only.

    ``shell_check(path)`` (GRUB backend): None when the shell file under the reader's root
    parses, else the shell's message; the module runs ``sh -n`` on it."""
    which = which or (lambda name: None)
    if owner is not None:
        validate_owner(owner)
    tokens = normalize_args(args)
    if owner is None and tokens:
        raise CmdlineError("args needs an owner")
    change = Change()
    if backend == "auto":
        try:
            backend = detect_backend(reader, which)
        except CmdlineError as exc:
            if owner is not None:
                raise
            # status only (or the handler) on a host without a known boot loader (a
            # container, a chroot being built): nothing to compare, nothing to do
            reader.warn(str(exc))
            change.pending = pending_cmdline(reader)
            change.owned_keys = removed_keys(reader)
            return change
    change.backend = backend
    if backend == "grub":
        if shell_check is not None:
            _check_grub_shell_files(reader, shell_check)
        _plan_grub(reader, change, owner, tokens, state, which, regenerate_only)
    elif backend == "grubby":
        _plan_grubby(reader, change, owner, tokens, state, which)
    elif backend == "kernel_cmdline_file":
        _plan_file(reader, change, owner, tokens, state)
    else:
        raise CmdlineError("unknown backend %r" % (backend,))
    change.owned_keys |= removed_keys(reader)
    change.changed = bool(change.files or change.commands or change.regenerate)
    return change


def _wanted(owner, tokens, state, old):
    """This owner's tokens after the call: ``tokens`` when present; none when absent (the
    args of an absent call are validated only, so one task can switch state)."""
    if owner is None:
        return old
    if state == "present":
        return tokens
    return []


def _check_grub_shell_files(reader, shell_check):
    """grub-mkconfig sources /etc/default/grub and every grub.d/*.cfg with /bin/sh: a
    syntax error in one fails it after kvmops wrote its drop-in (half applied). Refused
    first, naming the file. kvmops' own drop-ins are rendered by it and not checked."""
    for path in [GRUB_DEFAULTS] + grub_dropins(reader):
        if is_kvmops_dropin(path) or reader.text(path) is None:
            continue
        error = shell_check(path)
        if error:
            raise CmdlineError(
                "%s: not valid shell (%s): grub-mkconfig sources it and would fail, leaving "
                "the boot configuration half updated; fix the file first (nothing was changed)"
                % (path, error))


def _plan_grub(reader, change, owner, tokens, state, which, regenerate_only):
    cfg, env_path, mkconfig, check = grub_paths(reader, which)
    change.grub = {"cfg": cfg, "env": env_path, "mkconfig": mkconfig, "check": check}
    change.before_header = "GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT"
    owners = grub_owners(reader)
    replace = {}
    old = owners.get(owner, []) if owner else []
    if owner is not None:
        path = grub_dropin_path(owner)
        new = _wanted(owner, tokens, state, old)
        others = dict((name, toks) for name, toks in owners.items() if name != owner)
        base_steps = grub_default_steps(reader, skip=is_kvmops_dropin)
        base_env = base_steps[-1][1] if base_steps else {}
        write, change.skipped = merge_owner(owner, new, others, grub_default_tokens(base_env),
                                            "/etc/default/grub or /etc/default/grub.d (outside the kvmops drop-ins)",
                                            sources=token_sources(base_steps))
        change.tokens = new
        text = render_grub_dropin(owner, write) if write else None
        if _differs(reader, path, text):
            change.files[path] = text
            replace[path] = text
        change.removed = [token for token in old if token not in new]
        owners = grub_owners(reader, replace)
    env_before = grub_default_env(reader) or {}
    env_after = grub_default_env(reader, replace=replace) or {}
    for name, toks in owners.items():
        change.owned_keys |= keys_of(toks)
    change.owned_keys |= keys_of(old) | keys_of(change.tokens)
    linux = split_cmdline(env_after.get("GRUB_CMDLINE_LINUX", ""))
    if SEPARATOR in linux:
        late = [token for token in linux[linux.index(SEPARATOR):]
                if arg_key(token) in change.owned_keys]
        if late:
            raise CmdlineError(
                "GRUB_CMDLINE_LINUX holds '--', so the kernel arguments kvmops appends (%s) "
                "would be handed to init instead of the kernel; move the init arguments to "
                "GRUB_CMDLINE_LINUX_DEFAULT" % " ".join(late))
    for name, toks in sorted(owners.items()):
        missing = [token for token in toks if token not in kernel_part(linux)]
        if missing:
            culprit = first_file_dropping(grub_default_steps(reader, replace=replace), missing)
            raise CmdlineError(
                "GRUB_CMDLINE_LINUX loses %s of owner %r: %s, sourced after the kvmops "
                "drop-ins in /etc/default/grub.d, sets it again" % (
                    " ".join(missing), name, culprit or "a file"))
    defaults_before = grub_default_tokens(env_before)
    defaults_after = grub_default_tokens(env_after)
    change.before = join_cmdline(defaults_before)
    change.after = join_cmdline(defaults_after)
    current = grub_cfg_cmdline(reader, cfg, env_path)
    change.pending = predict_grub_pending(current, defaults_before, defaults_after)
    stale = (current is not None
             and project(current, change.owned_keys) != project(change.pending, change.owned_keys))
    change.regenerate = bool(regenerate_only or change.files or stale)


def _plan_grubby(reader, change, owner, tokens, state, which):
    grubby = which("grubby")
    records = record_owners(reader)
    old = records.get(owner, []) if owner else []
    entries = bls_entries(reader)
    env = {}
    for env_path in ("/boot/grub2/grubenv", "/boot/grub/grubenv"):
        env = read_grubenv(reader, env_path)
        if env:
            break
    options = []
    for _path, fields in entries:
        text = GRUB_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""),
                            fields.get("options", ""))
        options.append(split_cmdline(text))
    default = bls_cmdline(reader) or (options[0] if options else [])
    change.before_header = "options of the default boot entry"
    for toks in records.values():
        change.owned_keys |= keys_of(toks)
    if owner is not None:
        new = _wanted(owner, tokens, state, old)
        repeated = sorted(key for key in keys_of(new)
                          if len([t for t in new if arg_key(t) == key]) > 1)
        if repeated:
            raise CmdlineError(GRUBBY_REPEAT_MSG % (", ".join(repeated), owner))
        others = dict((name, toks) for name, toks in records.items() if name != owner)
        all_owned = set(old)
        for toks in others.values():
            all_owned.update(toks)
        base = remove_tokens(default, all_owned)
        write, change.skipped = merge_owner(owner, new, others, base,
                                            "the boot entries (outside kvmops)")
        change.tokens = new
        change.removed = [token for token in old if token not in new]
        remove = [token for token in change.removed
                  if any(token in kernel_part(toks) for toks in options)]
        add = [token for token in write
               if any(token not in kernel_part(toks) for toks in options) or not options]
        if (remove or add) and not grubby:
            raise CmdlineError("grubby is not installed; use another backend")
        change.commands = grubby_commands(grubby or "grubby", add, remove)
        record = render_record(owner, new) if new else None
        if _differs(reader, record_path(owner), record):
            change.files[record_path(owner)] = record
        if reader.exists(KERNEL_CMDLINE_FILE):
            current = split_cmdline(reader.text(KERNEL_CMDLINE_FILE) or "")
            edited = edit_tokens(current, old, write)
            if edited != current:
                change.files[KERNEL_CMDLINE_FILE] = join_cmdline(edited) + "\n"
        after = edit_tokens(default, old, write)
        change.owned_keys |= keys_of(new) | keys_of(old)
    else:
        after = default
    change.before = join_cmdline(default)
    change.after = join_cmdline(after)
    change.pending = after


def _plan_file(reader, change, owner, tokens, state):
    records = record_owners(reader)
    old = records.get(owner, []) if owner else []
    text = reader.text(KERNEL_CMDLINE_FILE)
    current = split_cmdline(text) if text is not None else kernel_install_base(reader)
    change.before_header = KERNEL_CMDLINE_FILE
    for toks in records.values():
        change.owned_keys |= keys_of(toks)
    after = current
    if owner is not None:
        new = _wanted(owner, tokens, state, old)
        others = dict((name, toks) for name, toks in records.items() if name != owner)
        all_owned = set(old)
        for toks in others.values():
            all_owned.update(toks)
        write, change.skipped = merge_owner(owner, new, others, remove_tokens(current, all_owned),
                                            KERNEL_CMDLINE_FILE + " (outside kvmops)")
        change.tokens = new
        change.removed = [token for token in old if token not in new]
        after = edit_tokens(current, old, write)
        if after != current or (text is None and (new or old)):
            change.files[KERNEL_CMDLINE_FILE] = join_cmdline(after) + "\n"
        record = render_record(owner, new) if new else None
        if _differs(reader, record_path(owner), record):
            change.files[record_path(owner)] = record
        change.owned_keys |= keys_of(new) | keys_of(old)
    change.before = join_cmdline(current if text is not None else [])
    change.after = join_cmdline(after) if (text is not None or change.files) else ""
    change.pending = after


def _differs(reader, relpath, text):
    """Whether writing ``text`` (None: deleting) would change ``relpath``."""
    if text is None:
        return reader.exists(relpath)
    current = reader.text(relpath)
    return current is None or current != text.strip()
