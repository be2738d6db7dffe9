# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The arguments and owner names kernel_cmdline accepts: validated, normalised to tokens.

Names, values and owners are checked before anything is written: a token lands in a
double-quoted shell word (the GRUB drop-in), in GRUB's script and in file names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    CmdlineError,
    SEPARATOR,
    SPACE,
    make_token,
    split_arg,
)

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


def check_name(name, where):
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


def check_value(name, value, where):
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
                if any(char in SPACE for char in item.strip()):
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
        check_name(name, where)
        value = check_value(name, value, where)
        token = make_token(name, value)
        if token in tokens:
            raise CmdlineError("%s: %r is given twice" % (where, token))
        tokens.append(token)
    return tokens
