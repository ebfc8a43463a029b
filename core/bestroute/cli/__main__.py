"""``python -m bestroute.cli``: the same as the ``bestroute`` command."""

import sys

from bestroute.cli import main

sys.exit(main())
