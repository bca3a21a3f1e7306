import sys

from medoa.cli import main

sys.exit(main())
