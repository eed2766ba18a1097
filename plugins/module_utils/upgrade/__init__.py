# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plain logic of an upgrade of Calico (playbooks/upgrade.yml): version rules, the
comparison of two releases' manifests, and what a backup holds."""
