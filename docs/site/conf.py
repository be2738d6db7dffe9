# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration of the collection's docs site (make docs; from antsibull-docs
sphinx-init). Built offline: the labels the generated pages link to in the Ansible docsite
and in other collections (common return values, action plugins, ansible.builtin.setup and set_stats,
ansible.posix.sysctl) resolve through a local intersphinx inventory written below, so no
inventory is downloaded and a label nobody defines is still an error."""

from __future__ import absolute_import, division, print_function

import os
import zlib

__metaclass__ = type

project = 'kvmops.hypervisor'
copyright = 'kvmops.hypervisor contributors'  # pylint: disable=redefined-builtin
title = 'kvmops.hypervisor documentation'
html_short_title = 'kvmops.hypervisor'

extensions = ['sphinx.ext.intersphinx', 'sphinx_antsibull_ext']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
default_role = 'any'

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'

# label -> (page under ANSIBLE_DOCS, title): every label of the Ansible docsite the
# generated pages refer to.
ANSIBLE_LABELS = {
    'common_return_values': ('reference_appendices/common_return_values.html#common-return-values',
                             'Return Values'),
    'action_plugins': ('plugins/action.html#action-plugins', 'Action plugins'),
    'callback_plugins': ('plugins/callback.html#callback-plugins', 'Callback plugins'),
    'ansible_configuration_settings': ('reference_appendices/config.html#ansible-configuration-settings',
                                       'Ansible Configuration Settings'),
    'ansible_collections.ansible.builtin.setup_module': (
        'collections/ansible/builtin/setup_module.html', 'ansible.builtin.setup module'),
    'ansible_collections.ansible.builtin.setup_module__parameter-gather_subset': (
        'collections/ansible/builtin/setup_module.html#parameter-gather_subset', 'gather_subset'),
    'ansible_collections.ansible.builtin.set_stats_module': (
        'collections/ansible/builtin/set_stats_module.html', 'ansible.builtin.set_stats module'),
    'ansible_collections.ansible.posix.sysctl_module': (
        'collections/ansible/posix/sysctl_module.html', 'ansible.posix.sysctl module'),
}


def write_inventory(path, labels):
    """A Sphinx intersphinx inventory (version 2) holding ``labels`` as std:label."""
    lines = ''.join('%s std:label -1 %s %s\n' % (name, uri, text) for name, (uri, text) in sorted(labels.items()))
    header = ('# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n'
              '# The remainder of this file is compressed using zlib.\n')
    with open(path, 'wb') as handle:
        handle.write(header.encode('utf-8') + zlib.compress(lines.encode('utf-8')))


_INVENTORY = os.path.join(os.environ.get('KVMOPS_DOCS_BUILD') or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'build', 'docs'), 'ansible.inv')
if not os.path.isdir(os.path.dirname(_INVENTORY)):
    os.makedirs(os.path.dirname(_INVENTORY))
write_inventory(_INVENTORY, ANSIBLE_LABELS)

intersphinx_mapping = {'ansible_devel': (ANSIBLE_DOCS, _INVENTORY)}
