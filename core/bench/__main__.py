import sys

from core.bench.run import main

sys.exit(main())
