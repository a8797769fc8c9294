"""Put the tests' network guard into subprocesses too: end-to-end tests add this folder
to PYTHONPATH, so a collector they start cannot reach anything but 127.0.0.1."""

import tests.conftest  # noqa: F401  (installing the guard is a side effect of importing it)
