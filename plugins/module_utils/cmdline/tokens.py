# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel command line tokens: split, join, quote; names and the projections on them.

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

SEPARATOR = "--"
SPACE = " \t\n\r\f\v"


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
        if char in SPACE and not in_quote:
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
        while pos < length and text[pos] in SPACE:
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
    if token and not any(char in SPACE for char in token):
        return token
    name, value = split_arg(token)
    if value is None:
        return '"%s"' % token
    return '%s="%s"' % (name, value)


def join_cmdline(tokens):
    """The inverse of split_cmdline for tokens without double quotes."""
    return " ".join(quote_token(token) for token in tokens)


# --------------------------------------------------------------------------- names

def make_token(name, value):
    return name if value is None else "%s=%s" % (name, value)


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
