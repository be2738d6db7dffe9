# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot Loader Specification entries (/boot/loader/entries/*.conf): the default
entry's ``options`` line, with grubenv variables ($kernelopts) expanded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_cfg import (
    GRUB_VAR,
    read_grubenv,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import (
    split_cmdline,
)

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
        grubenv = read_grubenv(reader, env_path)
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
    options = GRUB_VAR.sub(lambda m: grubenv.get(m.group(1) or m.group(2), ""), options)
    return split_cmdline(options)
