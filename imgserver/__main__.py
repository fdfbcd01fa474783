import sys

from imgserver.cli import main

sys.exit(main())
