from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.pair import Pair


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return Pair(tmp_path)
