"""`python -m spasticity_cds`: the same command line as the `spasticity-cds` script."""

import sys

from .cli import main

sys.exit(main())
