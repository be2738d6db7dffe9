# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare-then-write of single-value sysfs attributes.

Three shapes of attribute are understood:

* choice lists, where the kernel shows every accepted word and brackets the selected
  one: ``always [madvise] never`` (Documentation/admin-guide/mm/transhuge.rst,
  /sys/kernel/mm/transparent_hugepage/enabled). Reading gives the bracketed word;
  a wanted value that is not one of the words is refused before anything is written.
* boolean module parameters, shown as ``Y``/``N`` and written as ``1``/``0``/``Y``/``N``
  (kernel/params.c, param_set_bool), e.g. /sys/module/zswap/parameters/enabled.
* hex CPU masks, shown zero-padded to the number of possible CPUs (``0f``,
  ``00000000,000000ff``) and written bare (``f``): compared as numbers, e.g.
  /sys/devices/virtual/workqueue/cpumask (Documentation/core-api/workqueue.rst).
* everything else: the stripped text is compared as is (``0``, ``lz4``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import same_cpumask
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader

_CHOICE = re.compile(r"^\[([^\[\]\s]+)\]$")
_TRUE = ("1", "y", "yes", "true", "on")
_FALSE = ("0", "n", "no", "false", "off")
_ALLOWED_PREFIXES = ("/sys/", "/proc/sys/")


class SysfsAttrError(ValueError):
    """An attribute request that cannot be applied."""


def parse_choice(text):
    """``'always [madvise] never'`` -> ``('madvise', ['always', 'madvise', 'never'])``.

    Returns ``(None, None)`` when the text is not a choice list (exactly one bracketed
    word among two or more words).
    """
    if text is None:
        return None, None
    words = text.split()
    if len(words) < 2:
        return None, None
    selected = [m.group(1) for m in (_CHOICE.match(w) for w in words) if m]
    if len(selected) != 1:
        return None, None
    options = [w[1:-1] if _CHOICE.match(w) else w for w in words]
    if any("[" in w or "]" in w for w in options):
        return None, None
    return selected[0], options


def _as_bool(text):
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def wanted_text(value):
    """The text to write for a requested value (bools as 1/0, numbers as decimal)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).strip()


def current_value(text):
    """The value an attribute holds: the bracketed word of a choice list, else the text."""
    selected, dummy = parse_choice(text)
    return selected if selected is not None else (text.strip() if text is not None else None)


def matches(current_text, wanted):
    """Whether an attribute reading ``current_text`` already holds ``wanted``.

    Raises SysfsAttrError when ``wanted`` is not one of the words of a choice list.
    """
    want = wanted_text(wanted)
    selected, options = parse_choice(current_text)
    if options is not None:
        if want not in options:
            raise SysfsAttrError("%r is not one of the values the kernel offers (%s)"
                                 % (want, ", ".join(options)))
        return selected == want
    current = (current_text or "").strip()
    if current in ("Y", "N"):
        wanted_bool = _as_bool(want)
        if wanted_bool is None:
            raise SysfsAttrError("%r is not a boolean, and the attribute is one (Y/N)" % (want,))
        return (current == "Y") == wanted_bool
    return current == want or same_cpumask(current, want)


def check_path(path):
    """Only absolute paths below /sys or /proc/sys, without '..'."""
    text = str(path)
    if not text.startswith(_ALLOWED_PREFIXES) or "/../" in text + "/" or "/./" in text + "/":
        raise SysfsAttrError("%r is not an absolute path below /sys or /proc/sys" % (text,))
    return text


def write_file(path, text):
    """The real writer: one write() to a sysfs/procfs file."""
    with open(path, "w") as handle:
        handle.write(text)


def apply(attributes, root="/", check_mode=False, missing="fail", writer=None):
    """Bring attributes to their wanted values; return a report.

    ``attributes`` maps absolute paths to wanted values; a value of None means "leave
    alone" (the entry is skipped). Every attribute is read and validated before any is
    written, so a bad request changes nothing. ``missing`` is what to do about an
    attribute that does not exist: ``fail``, ``warn`` or ``ignore``.

    Returns ``{"changed", "attributes": {path: {wanted, before, after, missing}},
    "errors": [str], "warnings": [str]}``. ``errors`` non-empty means the caller fails.
    """
    if missing not in ("fail", "warn", "ignore"):
        raise SysfsAttrError("missing must be fail, warn or ignore, got %r" % (missing,))
    if not isinstance(attributes, dict):
        raise SysfsAttrError("attributes must be a mapping of path to value")
    writer = writer or write_file
    reader = Reader(root)
    report = {}
    errors = []
    warnings = []
    todo = []
    for path in sorted(attributes):
        wanted = attributes[path]
        if wanted is None:
            continue
        if isinstance(wanted, (dict, list)):
            raise SysfsAttrError("value for %s must be a scalar, got %s"
                                 % (path, type(wanted).__name__))
        check_path(path)
        before_text = reader.text(path)
        entry = {
            "wanted": wanted_text(wanted),
            "before": current_value(before_text),
            "after": current_value(before_text),
            "missing": before_text is None,
        }
        report[path] = entry
        if before_text is None:
            message = "%s does not exist (kernel feature absent?)" % path
            if missing == "fail":
                errors.append(message)
            elif missing == "warn":
                warnings.append(message)
            continue
        try:
            if not matches(before_text, wanted):
                todo.append(path)
        except SysfsAttrError as exc:
            errors.append("attributes[%s]: %s" % (path, exc))
    if errors:
        return {"changed": False, "attributes": report, "errors": errors,
                "warnings": warnings + reader.warnings}

    for path in todo:
        entry = report[path]
        if check_mode:
            entry["after"] = entry["wanted"]
            continue
        try:
            writer(reader.path(path), entry["wanted"])
        except (IOError, OSError) as exc:
            errors.append("cannot write %r to %s: %s"
                          % (entry["wanted"], path, getattr(exc, "strerror", exc)))
            continue
        after_text = reader.text(path)
        entry["after"] = current_value(after_text)
        try:
            if not matches(after_text, entry["wanted"]):
                errors.append("%s holds %r after writing %r" % (path, entry["after"], entry["wanted"]))
        except SysfsAttrError as exc:
            errors.append("%s: %s" % (path, exc))
    changed = any(report[p]["after"] != report[p]["before"] for p in todo)
    return {"changed": changed, "attributes": report, "errors": errors,
            "warnings": warnings + reader.warnings}


def render(report, key):
    """Diff text: one 'path = value' line per attribute."""
    lines = []
    for path in sorted(report):
        value = report[path][key]
        lines.append("%s = %s" % (path, "(absent)" if value is None else value))
    return "\n".join(lines) + ("\n" if lines else "")
