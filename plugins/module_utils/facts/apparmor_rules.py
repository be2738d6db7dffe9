# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does libvirt's AppArmor abstraction for QEMU let a guest read a file? Read from the
abstraction itself and the files it includes for local additions, not guessed from the
libvirt version.

Why: QEMU 7.2 and later read /sys/devices/system/node/nodeN/cpumap (through libnuma) for the
preallocation thread context of a guest bound to a NUMA node; libvirt added
``/sys/devices/system/node/*/cpumap r,`` to src/security/apparmor/libvirt-qemu in a later
release than Debian 12's 9.0 (Debian 13's 11.3 has it). Without the rule such a guest does
not start: ``apparmor="DENIED" ... name="/sys/devices/system/node/node1/cpumap"``.

Rule syntax: apparmor.d(5), "File rules" and "Globbing": ``*`` any characters but ``/``,
``**`` any characters including ``/``, ``?`` one character but ``/``, ``[...]`` a
character class, ``{a,b}`` alternatives. Rules with variables (``@{...}``) are not resolved
and count as not matching (the answer is then "missing", the safe side: a local rule is
added).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

ABSTRACTION = "/etc/apparmor.d/abstractions/libvirt-qemu"
# Debian 12 (libvirt 9.0): "#include <local/abstractions/libvirt-qemu>" at its end, the
# file created empty by libvirt-daemon-system's postinst; libvirt 10+: "include if exists
# <abstractions/libvirt-qemu.d>" (a directory of drop-ins) and, on Debian 13, the local one.
LOCAL = "/etc/apparmor.d/local/abstractions/libvirt-qemu"
DROPIN_DIR = "/etc/apparmor.d/abstractions/libvirt-qemu.d"
NODE_CPUMAP = "/sys/devices/system/node/node0/cpumap"
NODE_CPUMAP_RULE = "/sys/devices/system/node/*/cpumap r,"

_RULE = re.compile(r"^\s*(?:audit\s+)?(?:allow\s+)?(?:owner\s+)?(/\S+)\s+([a-zA-Z]+)\s*,\s*(?:#.*)?$")
_DENY = re.compile(r"^\s*(?:audit\s+)?deny\s")
_INCLUDE = re.compile(r"^\s*#?include(?:\s+if\s+exists)?\s+<([^>]+)>")


def glob_regex(pattern):
    """A compiled regex for an AppArmor path glob, or None when it has variables."""
    if "@{" in pattern:
        return None
    out, i, depth = [], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                return None
            body = pattern[i + 1:end]
            if body.startswith("^"):
                body = "^" + re.escape(body[1:]).replace("\\-", "-")
            else:
                body = re.escape(body).replace("\\-", "-")
            out.append("[%s]" % body)
            i = end + 1
            continue
        elif char == "{":
            out.append("(?:")
            depth += 1
        elif char == "}" and depth:
            out.append(")")
            depth -= 1
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        return None
    try:
        return re.compile("^%s$" % "".join(out))
    except re.error:
        return None


def allows_read(text, path):
    """True when an allow rule of ``text`` (an AppArmor profile fragment) grants read
    access to ``path`` and no deny rule takes it back."""
    allowed = False
    for line in (text or "").splitlines():
        denied = bool(_DENY.match(line))
        match = _RULE.match(_DENY.sub("", line) if denied else line)
        if not match:
            continue
        rule, perms = match.groups()
        if "r" not in perms:
            continue
        regex = glob_regex(rule)
        if regex is None or not regex.match(path):
            continue
        if denied:
            return False
        allowed = True
    return allowed


def includes(text):
    """The ``<...>`` names the fragment includes (``#include``, ``include if exists``)."""
    return [match.group(1) for match in map(_INCLUDE.match, (text or "").splitlines()) if match]


def is_blank(text):
    """Only whitespace and comments (the local file as the package's postinst leaves it)."""
    return all(not line.strip() or line.strip().startswith("#") for line in (text or "").splitlines())


def libvirt_qemu_abstraction(reader, marker):
    """{path, exists, node_cpumap, local: {path, included, exists, blank, kvmops, node_cpumap}}.

    ``node_cpumap``: the abstraction or a file of its drop-in directory lets QEMU read the
    NUMA nodes' cpumap files (None when the abstraction does not exist). ``local``: the file
    for site additions, whether the abstraction includes it (``included``), holds no rule
    (``blank``, as the package's postinst creates it), is the one kvmops wrote
    (``kvmops``: its first line holds ``marker``) and has the rule itself (``node_cpumap``)."""
    text = reader.text(ABSTRACTION, quiet=True)
    local_text = reader.data(LOCAL, None, quiet=True)
    local_text = None if local_text is None else local_text.decode("utf-8", "replace")
    names = includes(text)
    fragments = [text]
    if "abstractions/libvirt-qemu.d" in names:
        for name in reader.listdir(DROPIN_DIR):
            fragments.append(reader.text("%s/%s" % (DROPIN_DIR, name), quiet=True))
    return {
        "path": ABSTRACTION,
        "exists": text is not None,
        "node_cpumap": None if text is None else any(allows_read(part, NODE_CPUMAP) for part in fragments),
        "local": {
            "path": LOCAL,
            "included": "local/abstractions/libvirt-qemu" in names,
            "exists": local_text is not None,
            "blank": local_text is not None and is_blank(local_text),
            "kvmops": bool(local_text) and marker in local_text.split("\n", 1)[0],
            "node_cpumap": allows_read(local_text, NODE_CPUMAP),
        },
    }
