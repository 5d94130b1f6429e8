"""``python -m hubcli.server --root DIR --port 0``: run the local hub in the foreground."""

from __future__ import annotations

import sys

from hubcli.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
