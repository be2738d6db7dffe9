# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GRUB's defaults as grub-mkconfig sees them: /etc/default/grub, then
/etc/default/grub.d/*.cfg, sourced in order, evaluated without a shell.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    split_cmdline,
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _ShellParseError(Exception):
    pass


def _expand(text, pos, env):
    """Expand $NAME / ${NAME} starting at text[pos] == '$'; returns (value, pos)."""
    pos += 1
    if pos < len(text) and text[pos] == "{":
        close = text.find("}", pos)
        if close < 0:
            raise _ShellParseError("unterminated ${")
        name = text[pos + 1:close]
        if not _NAME.fullmatch(name):
            raise _ShellParseError("unsupported expansion ${%s}" % name)
        return env.get(name, ""), close + 1
    match = _NAME.match(text, pos)
    if not match:
        if pos < len(text) and text[pos] in ("(",):
            raise _ShellParseError("command substitution")
        return "$", pos
    return env.get(match.group(0), ""), match.end()


def _shell_word(text, pos, env):
    """Parse one shell word (assignment value) from text[pos]; returns (value, pos)."""
    out = []
    length = len(text)
    while pos < length:
        char = text[pos]
        if char in " \t\n;":
            break
        if char == "#" and not out:
            break
        if char == "'":
            close = text.find("'", pos + 1)
            if close < 0:
                raise _ShellParseError("unterminated single quote")
            out.append(text[pos + 1:close])
            pos = close + 1
        elif char == '"':
            pos += 1
            while True:
                if pos >= length:
                    raise _ShellParseError("unterminated double quote")
                char = text[pos]
                if char == '"':
                    pos += 1
                    break
                if char == "\\" and pos + 1 < length and text[pos + 1] in '$`"\\\n':
                    if text[pos + 1] != "\n":
                        out.append(text[pos + 1])
                    pos += 2
                elif char == "$":
                    value, pos = _expand(text, pos, env)
                    out.append(value)
                elif char == "`":
                    raise _ShellParseError("command substitution")
                else:
                    out.append(char)
                    pos += 1
        elif char == "\\":
            if pos + 1 < length and text[pos + 1] != "\n":
                out.append(text[pos + 1])
            pos += 2
        elif char == "$":
            value, pos = _expand(text, pos, env)
            out.append(value)
        elif char in "`|&<>()":
            raise _ShellParseError("unsupported shell syntax %r" % char)
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos


_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=")


def eval_shell_assignments(text, env, on_error=None):
    """Apply the simple ``NAME=value`` assignments of a shell file to ``env`` (in place).

    Only what /etc/default/grub files use in practice is understood: assignments with
    single/double quoting and $NAME / ${NAME} expansion, comments, ``export``.  Any
    other line is skipped; ``on_error(lineno, line, reason)`` is called when the
    skipped line mentions a GRUB_CMDLINE variable (the ones this module cares about).
    """
    pos = 0
    length = len(text)
    lineno = 1
    while pos < length:
        line_end = text.find("\n", pos)
        if line_end < 0:
            line_end = length
        line = text[pos:line_end]
        stripped = line.strip()
        start_line = lineno
        if not stripped or stripped.startswith("#"):
            pos = line_end + 1
            lineno += 1
            continue
        match = _ASSIGN.match(text, pos)
        if match and match.end() <= line_end + 1:
            try:
                value, new_pos = _shell_word(text, match.end(), env)
            except _ShellParseError as exc:
                if on_error and "GRUB_CMDLINE" in line:
                    on_error(start_line, line, str(exc))
                pos = line_end + 1
                lineno += 1
                continue
            env[match.group(1)] = value
            lineno += text.count("\n", pos, new_pos)
            rest_end = text.find("\n", new_pos)
            if rest_end < 0:
                rest_end = length
            rest = text[new_pos:rest_end].strip()
            if rest and not rest.startswith("#") and rest != ";":
                if on_error and "GRUB_CMDLINE" in text[pos:rest_end]:
                    on_error(start_line, text[pos:rest_end], "trailing shell syntax ignored")
            pos = rest_end + 1
            lineno += 1
            continue
        if on_error and "GRUB_CMDLINE" in line:
            on_error(start_line, line, "not a simple assignment")
        pos = line_end + 1
        lineno += 1
    return env


GRUB_DEFAULTS = "/etc/default/grub"
GRUB_DROPIN_DIR = "/etc/default/grub.d"


def grub_dropins(reader):
    """The /etc/default/grub.d/*.cfg files in the order grub-mkconfig sources them."""
    names = [name for name in reader.listdir(GRUB_DROPIN_DIR) if name.endswith(".cfg")]
    return ["%s/%s" % (GRUB_DROPIN_DIR, name) for name in sorted(names)]


def grub_default_steps(reader, replace=None, skip=None):
    """[(path, env after sourcing it)] for /etc/default/grub then grub.d/*.cfg in order.

    ``replace`` maps a drop-in path to the text to use instead of the file (what the
    file will hold after a change; ``None`` as text means the file is gone).  ``skip``
    is a predicate on paths to leave out.  Unreadable (missing) files are left out.
    """
    replace = replace or {}
    env = {}
    steps = []
    paths = [GRUB_DEFAULTS] + grub_dropins(reader)
    for path in replace:
        if path not in paths:
            paths.append(path)
    paths = [paths[0]] + sorted(paths[1:])
    for path in paths:
        if skip is not None and skip(path):
            continue
        if path in replace:
            text = replace[path]
        else:
            text = reader.text(path)
        if text is None:
            continue

        def _on_error(lineno, line, reason, _path=path):
            reader.warn("%s line %d: %s: %s" % (_path, lineno, reason, line.strip()))

        eval_shell_assignments(text, env, _on_error)
        steps.append((path, dict(env)))
    return steps


def grub_default_env(reader, replace=None, skip=None):
    """GRUB_CMDLINE_* after sourcing /etc/default/grub and grub.d/*.cfg, or None when no
    file is readable (``replace`` and ``skip`` as in grub_default_steps)."""
    steps = grub_default_steps(reader, replace, skip)
    if not steps:
        return None
    return steps[-1][1]


def token_sources(steps):
    """{token: the file that put it on the command line} from grub_default_steps."""
    sources = {}
    before = set()
    for path, env in steps:
        now = set(grub_default_tokens(env))
        for token in now - before:
            sources[token] = path
        before = now
    return sources


def first_file_dropping(steps, tokens):
    """The first file after which some of ``tokens``, all present before it, are gone."""
    present = False
    for path, env in steps:
        now = set(grub_default_tokens(env))
        if all(token in now for token in tokens):
            present = True
        elif present:
            return path
    return None


def grub_default_tokens(env):
    """Tokens GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT add to the normal entry."""
    return split_cmdline("%s %s" % (env.get("GRUB_CMDLINE_LINUX", ""),
                                    env.get("GRUB_CMDLINE_LINUX_DEFAULT", "")))
