import sys

from graphbuild.cli.main import main

sys.exit(main())
