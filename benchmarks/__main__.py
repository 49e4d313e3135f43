import sys

from benchmarks._harness import _main

sys.exit(_main())
