"""`python -m atomgen.cli` runs the command line."""

import sys

from atomgen.cli import main

sys.exit(main())
