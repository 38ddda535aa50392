"""The pure tier: no I/O, no event loop, no temp dirs.

The suite-wide autouse fixture that isolates the AWS environment builds a temp dir for
every test; nothing here can read the environment, so this tier replaces it with a no-op
(it costs seconds over a few hundred table rows and hypothesis examples).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolate_aws_environment() -> None:
    return None
