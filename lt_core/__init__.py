"""lt_core: the library of the Learnable Triangulation suite (cameras, triangulation, unprojection, models, data).

Importing it first lets idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE`` unless set):
on a machine whose cores are busy, torch's default spinning threads slowed a 2-thread training step about tenfold
(36 s vs 2.6-4.2 s for 15 steps of the tiny backbone at a load of 5 on 2 cores), while the results are the same
(the work is split the same way). The setting only takes effect when lt_core is imported before torch; the
Makefile, the tests and the notebook runners export it for their processes.
"""

import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
