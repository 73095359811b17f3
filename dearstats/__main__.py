"""``python -m dearstats`` runs the command line."""

import sys

from dearstats.cli import main

sys.exit(main())
