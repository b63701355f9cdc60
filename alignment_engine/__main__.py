import sys

from alignment_engine.cli import main

sys.exit(main())
