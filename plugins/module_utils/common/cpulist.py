# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel cpulist strings <-> sorted lists of CPU ids.

The syntax is the one the kernel's bitmap_parselist() accepts (lib/bitmap-str.c,
Documentation/admin-guide/kernel-parameters.rst "cpu lists"):

    0-3,8          single ids and ranges
    0-15:2/4       range with a group pattern: in every group of 4, use the first 2
    N              the last CPU (needs the number of CPUs)
    all            every CPU (needs the number of CPUs)

Stricter than the kernel in one way: an empty element (``1,,2``) is an error, since
in an inventory it is almost always a typo.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_NUMBER = re.compile(r"^(?:\d+|N)$")


class CpulistError(ValueError):
    """A cpulist string or CPU id list that the kernel would not accept."""


def _number(token, text, nr_cpus):
    if not _NUMBER.match(token):
        raise CpulistError("invalid CPU number %r in cpulist %r" % (token, text))
    if token == "N":
        if nr_cpus is None:
            raise CpulistError(
                "cpulist %r uses N (the last CPU) but no CPU count was given" % (text,))
        return nr_cpus - 1
    return int(token)


def parse_cpulist(text, nr_cpus=None):
    """Parse a kernel cpulist string into a sorted list of unique ints.

    ``nr_cpus`` (optional) is the number of CPUs: it gives ``N`` and ``all`` their
    meaning and every id must be below it. Raises CpulistError with a message naming
    the bad part.
    """
    if isinstance(text, (list, tuple)):
        return format_check(text, nr_cpus)
    if text is None:
        raise CpulistError("cpulist is missing (None)")
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise CpulistError("cpulist must be a string, got %s" % type(text).__name__)
    text = str(text)
    stripped = text.strip()
    if nr_cpus is not None and (isinstance(nr_cpus, bool) or int(nr_cpus) < 1):
        raise CpulistError("CPU count must be a positive integer, got %r" % (nr_cpus,))
    if stripped == "":
        return []
    cpus = set()
    for element in stripped.split(","):
        element = element.strip()
        if element == "":
            raise CpulistError("empty element in cpulist %r" % (text,))
        cpus.update(_parse_region(element, text, nr_cpus))
    return sorted(cpus)


def _parse_region(element, text, nr_cpus):
    pattern = None
    if ":" in element:
        element, pattern = element.split(":", 1)
    if element == "all":
        if nr_cpus is None:
            raise CpulistError(
                "cpulist %r uses 'all' but no CPU count was given" % (text,))
        start, end = 0, nr_cpus - 1
    elif "-" in element:
        first, last = element.split("-", 1)
        if first == "" and last and last[0].isdigit():
            raise CpulistError("negative CPU number in cpulist %r" % (text,))
        start = _number(first, text, nr_cpus)
        end = _number(last, text, nr_cpus)
        if start > end:
            raise CpulistError(
                "range %d-%d in cpulist %r runs backwards" % (start, end, text))
    else:
        if pattern is not None:
            # bitmap_parse_region() takes a group pattern only after a range.
            raise CpulistError(
                "group pattern on a single CPU in cpulist %r (needs a range)" % (text,))
        start = end = _number(element, text, nr_cpus)
    used, group = end - start + 1, end - start + 1
    if pattern is not None:
        if pattern.count("/") != 1:
            raise CpulistError(
                "group pattern %r in cpulist %r must be used/group" % (pattern, text))
        used_text, group_text = pattern.split("/")
        used = _number(used_text, text, nr_cpus)
        group = _number(group_text, text, nr_cpus)
        if group == 0:
            raise CpulistError("group size 0 in cpulist %r" % (text,))
        if used > group:
            raise CpulistError(
                "group pattern %d/%d in cpulist %r uses more CPUs than the group holds"
                % (used, group, text))
    if nr_cpus is not None and end >= nr_cpus:
        raise CpulistError(
            "CPU %d in cpulist %r is beyond the last CPU (%d)" % (end, text, nr_cpus - 1))
    return [cpu for cpu in range(start, end + 1) if (cpu - start) % group < used]


def format_check(cpus, nr_cpus=None):
    """Validate a list of CPU ids and return it sorted and unique."""
    result = set()
    for cpu in cpus:
        if isinstance(cpu, bool):
            raise CpulistError("CPU id must be an integer, got %r" % (cpu,))
        try:
            value = int(cpu)
        except (TypeError, ValueError):
            raise CpulistError("CPU id must be an integer, got %r" % (cpu,))
        if isinstance(cpu, float) and cpu != value:
            raise CpulistError("CPU id must be an integer, got %r" % (cpu,))
        if value < 0:
            raise CpulistError("CPU id must not be negative, got %r" % (cpu,))
        if nr_cpus is not None and value >= nr_cpus:
            raise CpulistError(
                "CPU %d is beyond the last CPU (%d)" % (value, nr_cpus - 1))
        result.add(value)
    return sorted(result)


def format_cpulist(cpus):
    """Format CPU ids as a kernel cpulist string with ranges merged: [0,1,2,3,8] -> '0-3,8'."""
    ids = format_check(cpus)
    parts = []
    index = 0
    while index < len(ids):
        start = ids[index]
        while index + 1 < len(ids) and ids[index + 1] == ids[index] + 1:
            index += 1
        end = ids[index]
        parts.append(str(start) if start == end else "%d-%d" % (start, end))
        index += 1
    return ",".join(parts)


def parse_cpumask(text):
    """Parse a kernel hex CPU mask (``cpumap`` style: ``00000000,0000ff0f``) into ids."""
    if text is None:
        raise CpulistError("cpumask is missing (None)")
    cleaned = str(text).strip().replace(",", "")
    if cleaned == "":
        return []
    if not re.match(r"^[0-9a-fA-F]+$", cleaned):
        raise CpulistError("invalid hex CPU mask %r" % (text,))
    value = int(cleaned, 16)
    cpus = []
    bit = 0
    while value:
        if value & 1:
            cpus.append(bit)
        value >>= 1
        bit += 1
    return cpus


def format_cpumask(cpus):
    """CPU ids as the hex mask that cpumask attributes take (bitmap_parse, lib/bitmap.c):
    32-bit chunks separated by commas, most significant first: [0, 1, 33] -> '2,00000003'."""
    value = 0
    for cpu in format_check(cpus):
        value |= 1 << cpu
    digits = "%x" % value
    chunks = []
    while len(digits) > 8:
        chunks.insert(0, digits[-8:])
        digits = digits[:-8]
    chunks.insert(0, digits)
    return ",".join(chunks)


_MASK = re.compile(r"^[0-9a-f]+(,[0-9a-f]{8})*$")


def same_cpumask(first, second):
    """Whether two texts are the same hex CPU mask: the kernel shows a mask zero-padded to
    the number of possible CPUs (``0f``, ``00000000,0000000f``), a mask is written bare."""
    first, second = str(first).strip().lower(), str(second).strip().lower()
    if not (_MASK.match(first) and _MASK.match(second)):
        return False
    return int(first.replace(",", ""), 16) == int(second.replace(",", ""), 16)
