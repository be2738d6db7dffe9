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

import os
import re
import tempfile

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


# --------------------------------------------------------------------------- validating

OWNER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*\Z")
# What may appear in a value: enough for cpulists (0-3,8), isolcpus flags
# (managed_irq,domain,2-5), sizes (1G), node:count (0:4), devices (/dev/sda1, UUID=...),
# consoles (ttyS0,115200n8). Quotes, whitespace, backslash, $ and backquote would break
# the shell drop-in or GRUB's script syntax; ; | & < > { } # * break GRUB's script.
VALUE_CHARS = "letters, digits and _ . , : / @ % + = ~ ^ ! -"
VALUE_RE = re.compile(r"^[A-Za-z0-9_.,:/@%+=~^!-]*\Z")


def validate_owner(owner):
    if not isinstance(owner, str) or not OWNER_RE.match(owner):
        raise CmdlineError(
            "owner %r is not valid: use 1-64 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit (it names the drop-in file)" % (owner,))
    return owner


def _check_name(name, where):
    if not isinstance(name, str):
        raise CmdlineError("%s: argument name %r is not a string" % (where, name))
    if name == SEPARATOR:
        raise CmdlineError(
            "%s: '--' (the start of init's arguments) cannot be managed by kernel_cmdline; "
            "only kernel parameters can" % where)
    if not NAME_RE.match(name):
        raise CmdlineError(
            "%s: argument name %r is not valid: use letters, digits, '_', '.' and '-' "
            "(not starting with '-')" % (where, name))


def _check_value(name, value, where):
    if value is None:
        return None
    if isinstance(value, bool):
        raise CmdlineError(
            "%s: value of %r is the boolean %s (YAML turned on/off/yes/no into a boolean); "
            "quote it, e.g. '%s: \"on\"'" % (where, name, value, name))
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise CmdlineError("%s: value of %r must be a string, a number or null, not %s"
                           % (where, name, type(value).__name__))
    if not VALUE_RE.match(value):
        bad = sorted(set(char for char in value if not VALUE_RE.match(char)))
        raise CmdlineError(
            "%s: value of %r (%r) contains %s; only %s are allowed (anything else would "
            "break the boot loader configuration)"
            % (where, name, value, ", ".join(repr(char) for char in bad), VALUE_CHARS))
    return value


def make_token(name, value):
    return name if value is None else "%s=%s" % (name, value)


def normalize_args(args, label="args"):
    """Validated tokens, in order, from the forms the module accepts.

    - a mapping ``{name: value}`` (``null`` value: a flag such as ``nosoftlockup``);
    - a list whose items are ``"name=value"`` / ``"flag"`` strings, ``[name, value]``
      pairs (``[name]`` or ``[name, null]`` for a flag) or one-key mappings; repeated
      names are kept in the order given (``hugepagesz=1G hugepages=0:4 hugepagesz=2M``).

    The same token twice is an error (it would be a duplicate on the command line).
    """
    if args is None:
        return []
    pairs = []
    if isinstance(args, dict):
        for name, value in args.items():
            pairs.append(("%s.%s" % (label, name), name, value))
    elif isinstance(args, (list, tuple)):
        for index, item in enumerate(args):
            where = "%s[%d]" % (label, index)
            if isinstance(item, str):
                if any(char in _SPACE for char in item.strip()):
                    raise CmdlineError(
                        "%s: %r holds whitespace; give one argument per item" % (where, item))
                name, value = split_arg(item.strip())
                pairs.append((where, name, value))
            elif isinstance(item, (list, tuple)) and 1 <= len(item) <= 2:
                pairs.append((where, item[0], item[1] if len(item) == 2 else None))
            elif isinstance(item, dict) and len(item) == 1:
                name, value = list(item.items())[0]
                pairs.append((where, name, value))
            else:
                raise CmdlineError(
                    "%s: %r is not an argument: use 'name=value', 'flag', [name, value] "
                    "or {name: value}" % (where, item))
    else:
        raise CmdlineError("%s must be a mapping or a list, not %s"
                           % (label, type(args).__name__))
    tokens = []
    for where, name, value in pairs:
        _check_name(name, where)
        value = _check_value(name, value, where)
        token = make_token(name, value)
        if token in tokens:
            raise CmdlineError("%s: %r is given twice" % (where, token))
        tokens.append(token)
    return tokens


# --------------------------------------------------------------------------- merging

def arg_key(token):
    return split_arg(token)[0]


def keys_of(tokens):
    return set(arg_key(token) for token in tokens if token != SEPARATOR)


def kernel_part(tokens):
    """The tokens before ``--`` (the ones the kernel parses itself)."""
    if SEPARATOR in tokens:
        return tokens[:tokens.index(SEPARATOR)]
    return list(tokens)


def project(tokens, keys):
    """The kernel's own tokens (before ``--``) whose name is in ``keys``, in order."""
    if tokens is None:
        return None
    return [token for token in kernel_part(tokens) if arg_key(token) in keys]


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


def merge_owner(owner, tokens, others, base, base_label):
    """Check ``owner``'s tokens against the other owners and the base command line.

    ``others``: {other owner: tokens}; ``base``: the tokens set outside kvmops.
    A name one owner sets may not be set by another owner (error naming both) nor, with
    another value, outside kvmops (error naming ``base_label``).  A token already
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
        raise CmdlineError(
            "kernel argument %s (owner %r) conflicts with %s already set in %s; remove "
            "it there or let kvmops own it" % (" ".join(own), owner, " ".join(there), base_label))
    write = [token for token in tokens if token not in skipped]
    return write, skipped


def _ordered_keys(tokens):
    seen = []
    for token in tokens:
        key = arg_key(token)
        if key not in seen:
            seen.append(key)
    return seen


# --------------------------------------------------------------------------- GRUB drop-ins

GRUB_DROPIN_PREFIX = "90-kvmops-"
_DROPIN_LINE = re.compile(r'^GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX( [^"$`\\]*)?"$')


def grub_dropin_path(owner):
    return "%s/%s%s.cfg" % (GRUB_DROPIN_DIR, GRUB_DROPIN_PREFIX, owner)


def is_kvmops_dropin(path):
    name = path.rsplit("/", 1)[-1]
    return name.startswith(GRUB_DROPIN_PREFIX) and name.endswith(".cfg")


def render_grub_dropin(owner, tokens):
    """The drop-in text: appends ``tokens`` to GRUB_CMDLINE_LINUX.

    Tokens are validated (no quotes, whitespace, $, backslash, backquote), so one
    double-quoted shell word holds them safely.
    """
    for token in tokens:
        name, value = split_arg(token)
        _check_name(name, "owner %s" % owner)
        _check_value(name, value, "owner %s" % owner)
    return (
        "# Managed by kvmops.hypervisor.kernel_cmdline, owner %s: do not edit, the next\n"
        "# run rewrites it. grub-mkconfig sources it after /etc/default/grub; it appends\n"
        "# this owner's kernel arguments to GRUB_CMDLINE_LINUX.\n"
        'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX %s"\n' % (owner, " ".join(tokens)))


def parse_grub_dropin(text, path):
    """Tokens a kvmops drop-in appends; CmdlineError if it is not one we wrote."""
    tokens = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _DROPIN_LINE.match(line)
        if not match or tokens is not None:
            raise CmdlineError(
                "%s is not in the form kvmops writes (edited by hand?): %r; remove the "
                "file or restore it" % (path, line))
        tokens = split_cmdline(match.group(1) or "")
    return tokens or []


def grub_owners(reader, replace=None):
    """{owner: tokens} of the kvmops GRUB drop-ins (``replace`` as in grub_default_env)."""
    replace = replace or {}
    owners = {}
    paths = set(path for path in grub_dropins(reader) if is_kvmops_dropin(path))
    paths.update(path for path in replace if is_kvmops_dropin(path))
    for path in sorted(paths):
        text = replace[path] if path in replace else reader.text(path)
        if text is None:
            continue
        owner = path.rsplit("/", 1)[-1][len(GRUB_DROPIN_PREFIX):-len(".cfg")]
        owners[owner] = parse_grub_dropin(text, path)
    return owners


# --------------------------------------------------------------------------- records

RECORD_DIR = "/etc/kvmops/kernel_cmdline"
REMOVED_RECORD = "/run/kvmops/kernel_cmdline.removed"


def record_path(owner):
    return "%s/%s.args" % (RECORD_DIR, owner)


def render_record(owner, tokens):
    return ("# kvmops.hypervisor.kernel_cmdline: kernel arguments owned by %s, one per\n"
            "# line (the boot loader has no place to say who added an argument).\n%s"
            % (owner, "".join("%s\n" % token for token in tokens)))


def record_owners(reader):
    owners = {}
    for name in reader.listdir(RECORD_DIR):
        if not name.endswith(".args"):
            continue
        lines = reader.lines("%s/%s" % (RECORD_DIR, name), default=[])
        tokens = [line.strip() for line in lines if not line.startswith("#")]
        owners[name[:-len(".args")]] = tokens
    return owners


def removed_keys(reader):
    """Names kvmops removed from the boot configuration since this boot (/run is tmpfs)."""
    return set(line.strip() for line in reader.lines(REMOVED_RECORD, default=[]))


# --------------------------------------------------------------------------- backends

GRUBBY_REPEAT_MSG = (
    "grubby keeps one value per parameter name, so repeated names (%s) would be "
    "collapsed; use backend kernel_cmdline_file or grub for owner %r")


def detect_backend(reader, which):
    """auto: grubby on BLS hosts that have it, GRUB where /etc/default/grub is, else
    /etc/kernel/cmdline where kernel-install is used; CmdlineError when none fits."""
    if bls_entries(reader) and which("grubby"):
        return "grubby"
    if (reader.exists(GRUB_DEFAULTS) or reader.isdir(GRUB_DROPIN_DIR)
            or reader.exists("/boot/grub/grub.cfg") or reader.exists("/boot/grub2/grub.cfg")):
        return "grub"
    if reader.exists("/etc/debian_version") and not reader.exists(KERNEL_CMDLINE_FILE):
        # Debian or Ubuntu whose boot loader is not installed yet (an image being built):
        # GRUB's packages source /etc/default/grub.d when they are
        return "grub"
    if reader.exists(KERNEL_CMDLINE_FILE) or bls_entries(reader):
        return "kernel_cmdline_file"
    raise CmdlineError(
        "cannot tell which boot loader this host uses (no BLS entries with grubby, no "
        "/etc/default/grub, no /etc/kernel/cmdline, not Debian); set backend explicitly")


def grub_paths(reader, which):
    """(grub.cfg, grubenv, grub-mkconfig, grub-script-check) for this host."""
    if reader.exists("/boot/grub2/grub.cfg") and not reader.exists("/boot/grub/grub.cfg"):
        cfg, env = "/boot/grub2/grub.cfg", "/boot/grub2/grubenv"
        names = ("grub2-mkconfig", "grub2-script-check")
    else:
        cfg, env = "/boot/grub/grub.cfg", "/boot/grub/grubenv"
        names = ("grub-mkconfig", "grub-script-check")
    mkconfig = which(names[0]) or which(names[0].replace("grub2", "grub").replace("grub-", "grub2-"))
    check = which(names[1]) or which(names[1].replace("grub2", "grub").replace("grub-", "grub2-"))
    return cfg, env, mkconfig, check


def grubby_commands(grubby, add, remove):
    """The grubby invocations that remove then add tokens on every installed kernel."""
    commands = []
    if remove:
        commands.append([grubby, "--update-kernel=ALL", "--remove-args=%s" % " ".join(remove)])
    if add:
        commands.append([grubby, "--update-kernel=ALL", "--args=%s" % " ".join(add)])
    return commands


def _kernel_install_base(reader):
    """Starting point of /etc/kernel/cmdline when it does not exist yet: what
    kernel-install itself falls back to (/usr/lib/kernel/cmdline, then /proc/cmdline
    without BOOT_IMAGE= and initrd=)."""
    text = reader.text("/usr/lib/kernel/cmdline")
    if text is None:
        text = reader.text("/proc/cmdline") or ""
    return [token for token in split_cmdline(text)
            if arg_key(token) not in ("BOOT_IMAGE", "initrd")]


def edit_tokens(tokens, old, new):
    """``tokens`` without the owner's old tokens, with its new ones before ``--``.

    New tokens already there, in the same order, stay where they are.
    """
    kept = remove_tokens(tokens, set(old) - set(new))
    wanted = set(new)
    if [token for token in kernel_part(kept) if token in wanted] == list(new):
        return kept
    return insert_before_separator(remove_tokens(kept, wanted), new)


def _differs(reader, relpath, text):
    """Whether writing ``text`` (None: deleting) would change ``relpath``."""
    if text is None:
        return reader.exists(relpath)
    current = reader.text(relpath)
    return current is None or current != text.strip()


# --------------------------------------------------------------------------- the change

class Change(object):
    """What one kernel_cmdline call will do, computed from the host without writing.

    Attributes: backend, files ({path: text or None to delete}), commands (argv lists),
    regenerate (GRUB config to regenerate: True/False), before/after (the command line
    the boot loader configuration gives, as text), pending (predicted tokens of the next
    boot once the configuration is regenerated), owned_keys, tokens (this owner's),
    skipped, changed.
    """

    def __init__(self):
        self.backend = None
        self.files = {}
        self.commands = []
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
                which=None, regenerate_only=False):
    """Compute the Change for one call (no writes). ``owner`` None: status only."""
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
        base_env = grub_default_env(reader, skip=is_kvmops_dropin) or {}
        write, change.skipped = merge_owner(owner, new, others, grub_default_tokens(base_env),
                                            "/etc/default/grub or /etc/default/grub.d (outside the kvmops drop-ins)")
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
            raise CmdlineError(
                "GRUB_CMDLINE_LINUX loses %s of owner %r: a file sourced after the kvmops "
                "drop-ins in /etc/default/grub.d sets it again" % (" ".join(missing), name))
    defaults_before = grub_default_tokens(env_before)
    defaults_after = grub_default_tokens(env_after)
    change.before = join_cmdline(defaults_before)
    change.after = join_cmdline(defaults_after)
    current = grub_cfg_cmdline(reader, cfg, env_path)
    change.pending = predict_grub_pending(current, defaults_before, defaults_after)
    stale = (current is not None
             and project(current, change.owned_keys) != project(change.pending, change.owned_keys))
    change.regenerate = bool(regenerate_only or change.files or stale)


def predict_grub_pending(current, defaults_before, defaults_after):
    """The default entry's tokens once grub.cfg is regenerated from the new defaults.

    ``current``: the tokens of today's grub.cfg (None if unreadable: then only the
    defaults are known).  grub-mkconfig (10_linux) writes
    ``linux <kernel> root=... ro ${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}``.
    """
    if current is None:
        return list(defaults_after)
    replaced = replace_run(current, defaults_before, defaults_after)
    if replaced is not None:
        return replaced
    if "ro" in current:
        return current[:current.index("ro") + 1] + list(defaults_after)
    if "rw" in current:
        return current[:current.index("rw") + 1] + list(defaults_after)
    return current[:1] + list(defaults_after)


def _plan_grubby(reader, change, owner, tokens, state, which):
    grubby = which("grubby")
    records = record_owners(reader)
    old = records.get(owner, []) if owner else []
    entries = bls_entries(reader)
    env = {}
    for env_path in ("/boot/grub2/grubenv", "/boot/grub/grubenv"):
        env = _grubenv(reader, env_path)
        if env:
            break
    options = []
    for _path, fields in entries:
        text = _GRUB_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""),
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
    current = split_cmdline(text) if text is not None else _kernel_install_base(reader)
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


def reboot_required(pending, running, keys):
    """True when the next boot's and the running kernel's owned arguments differ."""
    if pending is None or running is None or not keys:
        return False
    return project(pending, keys) != project(running, keys)


# --------------------------------------------------------------------------- applying

def write_file(reader, relpath, text, mode=0o644):
    """Atomically replace ``relpath`` under the root (``text`` None: delete it)."""
    full = reader.path(relpath)
    if text is None:
        if os.path.lexists(full):
            os.unlink(full)
        return
    directory = os.path.dirname(full)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, tmp = tempfile.mkstemp(prefix=".kvmops-", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, full)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def regenerate_grub(reader, grub, run):
    """grub-mkconfig to a temporary file, grub-script-check it, then rename it over
    grub.cfg; on any failure the old grub.cfg is left as it was."""
    if not grub.get("mkconfig"):
        raise CmdlineError("grub-mkconfig is not installed; cannot regenerate %s" % grub["cfg"])
    target = reader.path(grub["cfg"])
    tmp = target + ".kvmops-new"
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    try:
        rc, out, err = run([grub["mkconfig"], "-o", tmp])
        if rc != 0:
            raise CmdlineError("%s -o %s failed (rc=%s): %s" % (
                grub["mkconfig"], tmp, rc, (err or out).strip()[-2000:]))
        if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
            raise CmdlineError("%s wrote no configuration to %s" % (grub["mkconfig"], tmp))
        if grub.get("check"):
            rc, out, err = run([grub["check"], tmp])
            if rc != 0:
                raise CmdlineError(
                    "%s rejected the new GRUB configuration (rc=%s), %s left unchanged: %s"
                    % (grub["check"], rc, grub["cfg"], (err or out).strip()[-2000:]))
        with open(tmp, "rb") as stream:
            new = stream.read()
            os.fsync(stream.fileno())
        old = None
        if os.path.exists(target):
            with open(target, "rb") as stream:
                old = stream.read()
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.rename(tmp, target)
        return new != old
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def apply_change(reader, change, run, regenerate=True):
    """Write the files, run the commands, regenerate GRUB (when asked and grub-mkconfig is
    installed: without it, as in an image whose boot loader is not installed yet, the
    drop-ins wait for the package's own grub-mkconfig run, with a warning).

    Returns (regeneration ran, grub.cfg changed)."""
    for relpath in sorted(change.files):
        write_file(reader, relpath, change.files[relpath])
    for argv in change.commands:
        rc, out, err = run(argv)
        if rc != 0:
            raise CmdlineError("%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()))
    if change.removed:
        keys = removed_keys(reader) | keys_of(change.removed)
        write_file(reader, REMOVED_RECORD, "".join("%s\n" % key for key in sorted(keys)))
    if not (change.regenerate and regenerate and change.backend == "grub"):
        return False, False
    if not change.grub.get("mkconfig"):
        reader.warn("grub-mkconfig is not installed: %s was not regenerated; the kvmops "
                    "drop-ins take effect when it is (installing GRUB runs it)" % change.grub["cfg"])
        return False, False
    return True, regenerate_grub(reader, change.grub, run)
