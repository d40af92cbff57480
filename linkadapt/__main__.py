"""``python -m linkadapt``."""

import sys

from linkadapt.cli import main

sys.exit(main())
