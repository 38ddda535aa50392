from __future__ import annotations

from pathlib import Path

from s3sync import config
from s3sync.config import SyncOptions

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.yaml"


def test_the_example_config_is_valid_and_documents_every_pair_option() -> None:
    cfg = config.parse(EXAMPLE)
    assert [p.name for p in cfg.pairs] == ["docs", "photos-backup"]
    text = EXAMPLE.read_text()
    undocumented = [key for key in SyncOptions.model_fields if f"{key}:" not in text]
    assert undocumented == []
