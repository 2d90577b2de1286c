"""``python -m mixedcompat``: see :mod:`mixedcompat.cli`."""
import sys

from .cli import main

sys.exit(main())
