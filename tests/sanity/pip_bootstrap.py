# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stands in for the pip bootstrap script that ansible-test downloads (a host this CI cannot reach).

ansible-test runs it inside each fresh sanity venv with get-pip's arguments, e.g.
``pip==24.2 --disable-pip-version-check --no-setuptools --no-wheel``. It installs the bundled pip
with ensurepip, then the requested pip from the package index.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_FLAGS = ("--no-setuptools", "--no-wheel")


def main():
    ensurepip.bootstrap(upgrade=True)
    # ensurepip points PIP_CONFIG_FILE at /dev/null for its own run; the real install needs the
    # machine's pip configuration (index, certificates) back.
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        del os.environ["PIP_CONFIG_FILE"]
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
