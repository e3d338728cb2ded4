"""``python -m simulators.oned run NETWORK.yaml``: the 1D solver's command line
(:mod:`simulators.oned.cli`; also ``twinemu oned``)."""

import sys

from simulators.oned.cli import main

sys.exit(main())
