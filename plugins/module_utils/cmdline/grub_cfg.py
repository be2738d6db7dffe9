# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The generated grub.cfg: its menu tree, grubenv's saved/next entry, and the
``linux`` line of the entry the next boot picks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


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


GRUB_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)")


def _grub_expand(word, variables):
    return GRUB_VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), word)


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


def read_grubenv(reader, path):
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
    grubenv = read_grubenv(reader, env_path)
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
