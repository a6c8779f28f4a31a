"""Run a command, then fsync the file it wrote: `python durable.py OUT -- ARGV...`.

labcloud's image import fsyncs what it stores before it says "active"; cp and qemu-img
do not, so without this the comparison would time a page-cache copy against a durable
one. Self-contained on purpose: run with the venv's python, by path.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> int:
    out, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        print("usage: durable.py OUT -- ARGV...", file=sys.stderr)
        return 2
    rc = subprocess.run(argv, check=False).returncode
    if rc == 0:
        fd = os.open(out, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return rc


if __name__ == "__main__":
    sys.exit(main())
