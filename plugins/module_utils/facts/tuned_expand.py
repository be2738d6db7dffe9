# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What tuned 2.20 expands in a profile's values, as facts/tuned.py reads them: the cpulist
forms its functions take and give (tuned/utils/commands.py cpulist_unpack, cpulist2hex,
hex2cpulist, cpulist_pack), the ``${f:name:arg:...}`` functions that only compute or read
files (tuned/profiles/functions/), innermost first, and the ``${name}`` variables of a
profile's ``[variables]`` unit (tuned/profiles/variables.py). A function that needs more
than files raises _Unresolved; a failed assertion raises _ProfileError (tuned refuses the
profile).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpumask,
)


class _Unresolved(Exception):
    """A function that cannot be evaluated from files."""


class _ProfileError(Exception):
    """What makes tuned refuse the profile (missing include, failed assertion, syntax)."""


# ----------------------------------------------------------------- cpulists as tuned reads them

def cpulist_unpack(text):
    """tuned's commands.cpulist_unpack: ``0-3,5``, ``^2`` / ``!2`` negation, ``0x``
    hex masks (commas inside a mask; ``,,`` ends it); [] when malformed."""
    if text is None:
        return []
    items = str(text).strip("'\"").split(",")
    values, negated = [], []
    hexmask, mask = False, ""
    for item in items:
        if hexmask:
            if item == "":
                hexmask = False
                values.append(mask)
                mask = ""
            else:
                mask += item
            continue
        if item[0:2].lower() == "0x":
            hexmask, mask = True, item
        elif item and item[0] in "^!":
            bounds = item[1:].split("-")
            try:
                if len(bounds) > 1:
                    negated += list(range(int(bounds[0]), int(bounds[1]) + 1))
                else:
                    negated.append(int(item[1:]))
            except ValueError:
                return []
        elif item:
            values.append(item)
    if mask:
        values.append(mask)
    cpus = set()
    for value in values:
        if value[0:2].lower() == "0x":
            cpus.update(hex2cpulist(value))
            continue
        bounds = value.strip().split("-")
        try:
            if len(bounds) > 1:
                cpus.update(range(int(bounds[0]), int(bounds[1]) + 1))
            else:
                cpus.add(int(bounds[0]))
        except ValueError:
            return []
    return sorted(cpus - set(negated))


def hex2cpulist(mask):
    """tuned's commands.hex2cpulist: the collection's cpumask parser, [] for a bad mask."""
    text = str(mask).strip()
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        return parse_cpumask(text)
    except CpulistError:
        return []


def cpulist2hex(cpus):
    """tuned's commands.cpulist2hex: 32-bit words, comma-separated, zero-padded."""
    number = 0
    for cpu in cpus:
        number |= 1 << cpu
    text = "%x" % number
    width = len(text) + (8 - len(text) % 8) % 8
    text = text.zfill(width)
    return ",".join(text[i:i + 8] for i in range(0, len(text), 8))


def cpulist_pack(cpus):
    """tuned's commands.cpulist_pack joined with commas (``0-3,5``)."""
    return format_cpulist(cpus)


# ----------------------------------------------------------------- the ${f:...} functions

class Functions(object):
    """The built-in functions tuned evaluates in profiles, those computable from files."""

    def __init__(self, reader):
        self.reader = reader
        self._online = None

    def online(self):
        if self._online is None:
            self._online = cpulist_unpack(self.reader.text("/sys/devices/system/cpu/online", "", quiet=True))
        return self._online

    def present(self):
        return cpulist_unpack(self.reader.text("/sys/devices/system/cpu/present", "", quiet=True))

    def call(self, name, args):
        """The function's text, None when tuned leaves the call in place (assertions that
        hold), or raises _Unresolved / _ProfileError."""
        joined = ",,".join(args)
        if name == "cpulist_unpack":
            return ",".join(str(c) for c in cpulist_unpack(joined))
        if name == "cpulist_pack":
            return cpulist_pack(cpulist_unpack(joined))
        if name == "cpulist2hex":
            return cpulist2hex(cpulist_unpack(joined))
        if name == "hex2cpulist":
            return ",".join(str(c) for c in hex2cpulist(args[0] if args else ""))
        if name == "cpulist_invert":
            return ",".join(str(c) for c in sorted(set(self.online()) - set(cpulist_unpack(joined))))
        if name == "cpulist2hex_invert":
            return cpulist2hex(sorted(set(self.online()) - set(cpulist_unpack(joined))))
        if name == "cpulist_online":
            cpus = cpulist_unpack(",".join(args))
            return ",".join(str(c) for c in cpus if c in self.online())
        if name == "cpulist_present":
            return ",".join(str(c) for c in sorted(set(cpulist_unpack(joined)) & set(self.present())))
        if name == "strip":
            return "".join(args).strip()
        if name == "regex_search_ternary" and len(args) == 4:
            return args[2] if re.search(args[1], args[0]) else args[3]
        if name == "assertion" and len(args) == 3:
            if args[1] != args[2]:
                raise _ProfileError("assertion '%s' failed: '%s' != '%s'" % tuple(args))
            return None
        if name == "assertion_non_equal" and len(args) == 3:
            if args[1] == args[2]:
                raise _ProfileError("assertion '%s' failed: '%s' == '%s'" % tuple(args))
            return None
        if name == "calc_isolated_cores":
            return self.calc_isolated_cores(args)
        raise _Unresolved(name)

    def calc_isolated_cores(self, args):
        """function_calc_isolated_cores: per package, every CPU but the first N (default 1)."""
        reserve = 1
        if args and args[0] != "":
            if not args[0].isdigit():
                raise _Unresolved("calc_isolated_cores")
            reserve = int(args[0])
        packages = {}
        for entry in self.reader.listdir("/sys/devices/system/cpu"):
            if not (entry.startswith("cpu") and entry[3:].isdigit()):
                continue
            package = self.reader.text("/sys/devices/system/cpu/%s/topology/physical_package_id" % entry,
                                       quiet=True)
            if package is not None and package.isdigit():
                packages.setdefault(package, []).append(int(entry[3:]))
        isolated = []
        for cpus in packages.values():
            isolated += sorted(cpus)[reserve:]
        return ",".join(str(c) for c in sorted(isolated))


def expand_functions(functions, text):
    """(text, [unresolved function names]): tuned's functions.Functions._process, a scan
    that evaluates each ``${f:...}`` at its closing brace (so the innermost first) and
    skips ``${name}`` and escaped ``\\${...}``; a call it cannot evaluate stays as written,
    and so does every call around it."""
    unresolved = []
    stack = []
    escaped = False
    cnt = 0
    while cnt < len(text):
        if text[cnt] == "}":
            if not stack:
                return text, unresolved  # tuned: "invalid variable syntax, non pair '}'"
            was_escaped, start = stack.pop()
            parts = re.split(r"(?<!\\):", text[start:cnt])
            if not was_escaped and parts[0] == "${f" and len(parts) > 1:
                parts = [part.replace("\\:", ":") for part in parts]
                value = None
                if "${f:" in text[start + 4:cnt]:  # a call inside that stayed unevaluated
                    unresolved.append(parts[1])
                else:
                    try:
                        value = functions.call(parts[1], parts[2:])
                    except _Unresolved:
                        unresolved.append(parts[1])
                if value is not None:
                    text = text[:start] + value + text[cnt + 1:]
                    cnt = max(cnt + len(value) - (cnt - start + 1), 0)
        elif text[cnt:cnt + 2] == "${":
            stack.append((escaped, cnt))
        escaped = cnt < len(text) and text[cnt] == "\\"
        cnt += 1
    # \${f:...} -> ${f:...} (functions.expand)
    return re.sub(r"\\(\$\{f:.*\})", r"\1", text), unresolved


class Variables(object):
    """tuned's Variables: ``${name}`` lookups, then the functions."""

    def __init__(self, functions):
        self.functions = functions
        self.values = {}
        self.sources = {}
        self.unresolved = {}

    def expand(self, value):
        """(expanded text, unresolved function names)."""
        if value is None:
            return None, []
        text = str(value)
        if self.values:
            names = list(self.values)
            pattern = re.compile("|".join(r"(?<!\\)\$\{(%s)\}" % re.escape(name) for name in names))
            text = pattern.sub(lambda m: self.values[next(g for g in m.groups() if g is not None)], text)
        text = re.sub(r"\\(\$\{\w+\})", r"\1", text)
        text, unresolved = expand_functions(self.functions, text)
        for name in re.findall(r"(?<!\\)\$\{(\w+)\}", text):
            if name in self.unresolved:
                unresolved.extend(self.unresolved[name])
        return text, unresolved

    def add(self, name, value, source):
        if value is None or not re.match(r"\w+$", name):
            return
        text, unresolved = self.expand(value)
        self.values[name] = text
        self.sources[name] = source
        if unresolved:
            self.unresolved[name] = unresolved
        else:
            self.unresolved.pop(name, None)
