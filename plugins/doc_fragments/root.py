# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The test seam of the modules that read and write files under a root, and run no command."""

    DOCUMENTATION = r"""
options:
  root:
    description:
      - Internal, for tests; leave it at V(/) on hosts.
      - Root of the file system tree that every path (C(/etc), C(/sys), C(/proc)) is read and
        written under. These modules run no command, so a root other than V(/) never touches
        the host they run on.
    type: path
    default: /
"""
