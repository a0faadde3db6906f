"""``python -m daemon`` is ``triaged``."""

import sys

from daemon.cli import main

sys.exit(main())
