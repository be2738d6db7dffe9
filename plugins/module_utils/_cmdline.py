# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel command lines: tokenize, read what the next boot gets, merge per owner.

Tokenizing follows the kernel's own ``next_arg()`` (lib/cmdline.c, used by
``parse_args()`` in kernel/params.c): arguments are separated by whitespace, a double
quote toggles "inside quotes" so whitespace there does not split, and the quotes
around a whole argument or around the value of ``name="value"`` are dropped.  A token
is returned the way the kernel sees it: ``name`` or ``name=value``, quotes removed.
``--`` is kept as a token: the kernel stops parsing its own parameters there and hands
everything after it to init (Documentation/admin-guide/kernel-parameters.rst).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SEPARATOR = "--"
_SPACE = " \t\n\r\f\v"


class CmdlineError(ValueError):
    """A kernel argument, owner or configuration this module will not write."""


# --------------------------------------------------------------------------- tokenizing

def _next_arg(text, pos):
    """One step of the kernel's next_arg(): (token, new position)."""
    start = pos
    in_quote = quoted = False
    if text[pos] == '"':
        pos += 1
        start = pos
        in_quote = quoted = True
    i = pos
    equals = -1
    while i < len(text):
        char = text[i]
        if char in _SPACE and not in_quote:
            break
        if equals < 0 and char == "=":
            equals = i
        if char == '"':
            in_quote = not in_quote
        i += 1
    end = i  # exclusive end of the argument
    if equals < 0:
        param, value = text[start:end], None
    else:
        param, value = text[start:equals], text[equals + 1:end]
        if value.startswith('"'):
            value = value[1:]
            if end > start and text[end - 1] == '"' and value.endswith('"'):
                value = value[:-1]
            quoted = False  # the closing quote is already gone
    if quoted and end > start and text[end - 1] == '"':
        if value is None:
            param = param[:-1] if param.endswith('"') else param
        elif value.endswith('"'):
            value = value[:-1]
    token = param if value is None else "%s=%s" % (param, value)
    return token, end


def split_cmdline(text):
    """Tokens of a kernel command line, the way the kernel's next_arg() splits it.

    ``None`` or an empty string gives ``[]``.
    """
    if not text:
        return []
    tokens = []
    pos = 0
    length = len(text)
    while True:
        while pos < length and text[pos] in _SPACE:
            pos += 1
        if pos >= length:
            return tokens
        token, pos = _next_arg(text, pos)
        tokens.append(token)


def split_arg(token):
    """``name=value`` -> (name, value); a flag -> (name, None)."""
    name, sep, value = token.partition("=")
    return (name, value if sep else None)


def quote_token(token):
    """A token as it must be written on a command line (quotes only when needed)."""
    if token and not any(char in _SPACE for char in token):
        return token
    name, value = split_arg(token)
    if value is None:
        return '"%s"' % token
    return '%s="%s"' % (name, value)


def join_cmdline(tokens):
    """The inverse of split_cmdline for tokens without double quotes."""
    return " ".join(quote_token(token) for token in tokens)


# --------------------------------------------------------------------------- shell config

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _ShellParseError(Exception):
    pass


def _expand(text, pos, env, end_chars):
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
                    value, pos = _expand(text, pos, env, '"')
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
            value, pos = _expand(text, pos, env, " \t\n;")
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


def grub_default_env(reader, replace=None, skip=None):
    """GRUB_CMDLINE_* after sourcing /etc/default/grub and grub.d/*.cfg, or None.

    ``replace`` maps a drop-in path to the text to use instead of the file (what the
    file will hold after a change; ``None`` as text means the file is gone).  ``skip``
    is a predicate on paths to leave out.  Returns None when no file is readable.
    """
    replace = replace or {}
    env = {}
    found = False
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
        found = True

        def _on_error(lineno, line, reason, _path=path):
            reader.warn("%s line %d: %s: %s" % (_path, lineno, reason, line.strip()))

        eval_shell_assignments(text, env, _on_error)
    if not found:
        return None
    return env


def grub_default_tokens(env):
    """Tokens GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT add to the normal entry."""
    return split_cmdline("%s %s" % (env.get("GRUB_CMDLINE_LINUX", ""),
                                    env.get("GRUB_CMDLINE_LINUX_DEFAULT", "")))


# --------------------------------------------------------------------------- grub.cfg

def _grub_words(line):
    """GRUB script words of a line (quotes: '...', "...", backslash); no expansion."""
    words = []
    current = []
    in_word = False
    i = 0
    while i < len(line):
        char = line[i]
        if char in " \t":
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            i += 1
            continue
        in_word = True
        if char == "'":
            close = line.find("'", i + 1)
            close = len(line) if close < 0 else close
            current.append(line[i + 1:close])
            i = close + 1
        elif char == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line):
                    i += 1
                current.append(line[i])
                i += 1
            i += 1
        elif char == "\\" and i + 1 < len(line):
            current.append(line[i + 1])
            i += 2
        else:
            current.append(char)
            i += 1
    if in_word:
        words.append("".join(current))
    return words


_GRUB_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)")


def _grub_expand(word, variables):
    return _GRUB_VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), word)


def parse_grub_cfg(text):
    """Menu tree of a grub.cfg and its ``set default=`` values.

    Returns (entries, defaults, variables): entries is a list of dicts
    {kind: menuentry|submenu, title, id, linux: [words] or None, children: [...]};
    defaults the ``set default=...`` values in file order.
    """
    root = {"children": []}
    stack = [root]
    depths = []  # brace depth at which each open menu block started
    depth = 0
    defaults = []
    variables = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = _grub_words(line)
        if not words:
            continue
        head = words[0]
        if head in ("menuentry", "submenu") and line.endswith("{"):
            options = words[1:-1] if words[-1] == "{" else words[1:]
            title = options[0] if options else ""
            entry_id = None
            for index, word in enumerate(options):
                if word in ("--id", "$menuentry_id_option") and index + 1 < len(options):
                    entry_id = options[index + 1]
            entry = {"kind": head, "title": title, "id": entry_id, "linux": None,
                     "children": []}
            stack[-1]["children"].append(entry)
            stack.append(entry)
            depth += 1
            depths.append(depth)
            continue
        if head in ("linux", "linuxefi", "linux16") and len(stack) > 1:
            if stack[-1].get("linux") is None:
                stack[-1]["linux"] = [_grub_expand(word, variables) for word in words[1:]]
        if head == "set" and len(words) >= 2 and "=" in words[1]:
            name, _sep, value = words[1].partition("=")
            if name == "default":
                defaults.append(value)
            else:
                variables[name] = _grub_expand(value, variables)
        opens = line.count("{") - line.count("${")
        closes = line.count("}") - line.count("${")
        if line == "}" or (closes > opens and line.endswith("}")):
            if depths and depths[-1] == depth:
                depths.pop()
                stack.pop()
            depth -= 1
        elif opens > closes:
            depth += 1
    return root["children"], defaults, variables


def _find_entry(entries, selector):
    """Resolve a GRUB default (index, title, id, or a>b path) to a menuentry."""
    parts = selector.split(">") if selector else ["0"]
    level = entries
    found = None
    for part in parts:
        part = part.strip()
        found = None
        if part.isdigit():
            index = int(part)
            if index < len(level):
                found = level[index]
        else:
            for entry in level:
                if part in (entry["title"], entry["id"]):
                    found = entry
                    break
        if found is None:
            return None
        level = found["children"]
    while found is not None and found["kind"] == "submenu":
        found = found["children"][0] if found["children"] else None
    return found


def _grubenv(reader, path):
    env = {}
    for line in reader.lines(path, default=[]):
        if line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            env[name.strip()] = value.strip()
    return env


def grub_cfg_cmdline(reader, cfg_path, env_path):
    """Tokens of the default entry's ``linux`` line in a grub.cfg, or None."""
    text = reader.text(cfg_path)
    if text is None:
        return None
    entries, defaults, _variables = parse_grub_cfg(text)
    if not entries:
        return None
    grubenv = _grubenv(reader, env_path)
    selector = "0"
    for value in defaults:
        if value == "${next_entry}":
            continue
        if value == "${saved_entry}":
            value = grubenv.get("saved_entry", "0") or "0"
        selector = value
    if grubenv.get("next_entry"):
        selector = grubenv["next_entry"]
    entry = _find_entry(entries, selector) or _find_entry(entries, "0")
    if entry is None or not entry.get("linux"):
        return None
    words = entry["linux"]
    # GRUB's linux loader passes BOOT_IMAGE=<kernel path> first, then the arguments.
    return ["BOOT_IMAGE=%s" % words[0]] + [word for word in words[1:] if word != ""]


# --------------------------------------------------------------------------- BLS

BLS_DIRS = ("/boot/loader/entries", "/boot/efi/loader/entries", "/efi/loader/entries")


def _version_key(text):
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", text) if part]


def bls_entries(reader):
    """[(path, {key: value})] of the BLS entries found, newest version first."""
    for directory in BLS_DIRS:
        names = [name for name in reader.listdir(directory) if name.endswith(".conf")]
        if not names:
            continue
        entries = []
        for name in names:
            path = "%s/%s" % (directory, name)
            fields = {}
            for line in reader.lines(path, default=[]):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                key, _sep, value = line.partition(" ")
                fields.setdefault(key, value.strip())
            fields["_id"] = name[:-len(".conf")]
            entries.append((path, fields))
        entries.sort(key=lambda item: _version_key(item[1].get("version", item[1]["_id"])),
                     reverse=True)
        return entries
    return []


def bls_cmdline(reader):
    """Tokens of the default BLS entry's ``options`` line, or None."""
    entries = bls_entries(reader)
    if not entries:
        return None
    grubenv = {}
    for env_path in ("/boot/grub2/grubenv", "/boot/grub/grubenv"):
        grubenv = _grubenv(reader, env_path)
        if grubenv:
            break
    chosen = entries[0][1]
    wanted = grubenv.get("next_entry") or grubenv.get("saved_entry")
    for _path, fields in entries:
        if wanted and wanted in (fields["_id"], fields.get("title")):
            chosen = fields
            break
    options = chosen.get("options")
    if options is None:
        return None
    options = _GRUB_VAR.sub(lambda m: grubenv.get(m.group(1) or m.group(2), ""), options)
    return split_cmdline(options)


# --------------------------------------------------------------------------- pending

KERNEL_CMDLINE_FILE = "/etc/kernel/cmdline"


def pending_cmdline(reader):
    """Tokens the next boot's kernel gets, from the boot loader configuration, or None.

    Tried in order: BLS entries (/boot/loader/entries/*.conf ``options``, the saved or
    newest entry), GRUB's generated /boot/grub/grub.cfg or /boot/grub2/grub.cfg (the
    default entry's ``linux`` line, with grubenv's saved/next entry), /etc/kernel/cmdline
    (kernel-install, systemd-boot, unified kernel images) and finally, when grub.cfg is
    unreadable, the effective GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT of
    /etc/default/grub and /etc/default/grub.d/*.cfg (only the arguments GRUB adds: no
    BOOT_IMAGE or root=).  None when none of these is readable.
    """
    tokens = bls_cmdline(reader)
    if tokens is not None:
        return tokens
    for cfg_path, env_path in (("/boot/grub/grub.cfg", "/boot/grub/grubenv"),
                               ("/boot/grub2/grub.cfg", "/boot/grub2/grubenv")):
        tokens = grub_cfg_cmdline(reader, cfg_path, env_path)
        if tokens is not None:
            return tokens
    text = reader.text(KERNEL_CMDLINE_FILE)
    if text is not None:
        return split_cmdline(text)
    env = grub_default_env(reader)
    if env is not None and ("GRUB_CMDLINE_LINUX" in env or "GRUB_CMDLINE_LINUX_DEFAULT" in env):
        return grub_default_tokens(env)
    return None


def running_cmdline(reader):
    """Tokens of /proc/cmdline, or None when unreadable."""
    text = reader.text("/proc/cmdline")
    if text is None:
        return None
    return split_cmdline(text)
