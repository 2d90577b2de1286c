"""``python -m mixedcompat``: see :mod:`mixedcompat.cli`."""
import sys

from mixedcompat.cli import main

sys.exit(main())
