# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-owner merging of kernel arguments, and the token edits that put an owner's
arguments into a command line (before ``--``) or take them out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    arg_key,
    kernel_part,
    keys_of,
)


def remove_tokens(tokens, remove):
    """``tokens`` without those in ``remove`` (each occurrence in the kernel part)."""
    remove = set(remove)
    kernel = kernel_part(tokens)
    rest = tokens[len(kernel):]
    return [token for token in kernel if token not in remove] + rest


def insert_before_separator(tokens, new):
    """Append ``new`` to the kernel's part: init's arguments after ``--`` stay after."""
    kernel = kernel_part(tokens)
    return kernel + list(new) + tokens[len(kernel):]


def replace_run(seq, old, new):
    """``seq`` with the last contiguous run equal to ``old`` replaced by ``new``, or None."""
    if not old:
        return None
    for start in range(len(seq) - len(old), -1, -1):
        if seq[start:start + len(old)] == old:
            return seq[:start] + list(new) + seq[start + len(old):]
    return None


def merge_owner(owner, tokens, others, base, base_label, sources=None):
    """Check ``owner``'s tokens against the other owners and the base command line.

    ``others``: {other owner: tokens}; ``base``: the tokens set outside kvmops.
    A name one owner sets may not be set by another owner (error naming both) nor, with
    another value, outside kvmops (error naming the file from ``sources``, {token: path},
    else ``base_label``).  A token already
    present, identical, outside kvmops is not added again.
    Returns (tokens to write, tokens skipped because already present).
    """
    mine = keys_of(tokens)
    for other in sorted(others):
        clash = sorted(mine & keys_of(others[other]))
        if clash:
            raise CmdlineError(
                "kernel argument %s is set by two owners, %r and %r; only one role may "
                "own a kernel parameter" % (", ".join(clash), other, owner))
    base_kernel = kernel_part(base or [])
    write, skipped = [], []
    for key in _ordered_keys(tokens):
        own = [token for token in tokens if arg_key(token) == key]
        there = [token for token in base_kernel if arg_key(token) == key]
        if not there:
            continue
        if there == own:
            skipped.extend(own)
            continue
        files = sorted(set((sources or {}).get(token) for token in there) - set([None]))
        raise CmdlineError(
            "kernel argument %s (owner %r) conflicts with %s already set in %s; remove "
            "it there or let kvmops own it" % (" ".join(own), owner, " ".join(there),
                                               ", ".join(files) or base_label))
    write = [token for token in tokens if token not in skipped]
    return write, skipped


def _ordered_keys(tokens):
    seen = []
    for token in tokens:
        key = arg_key(token)
        if key not in seen:
            seen.append(key)
    return seen


def edit_tokens(tokens, old, new):
    """``tokens`` without the owner's old tokens, with its new ones before ``--``.

    New tokens already there, in the same order, stay where they are.
    """
    kept = remove_tokens(tokens, set(old) - set(new))
    wanted = set(new)
    if [token for token in kernel_part(kept) if token in wanted] == list(new):
        return kept
    return insert_before_separator(remove_tokens(kept, wanted), new)
