#!/usr/bin/env python
"""Django's command-line utility for MedOA (the same as `medoa manage`)."""

import sys

from medoa.cli import main

if __name__ == "__main__":
    sys.exit(main(["manage", *sys.argv[1:]]))
