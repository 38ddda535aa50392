"""`s3sync doctor`: what an endpoint supports, as the sync engine will see it."""

from __future__ import annotations

import json

import click

from s3sync.adapters.probe import Capabilities, probe
from s3sync.adapters.s3 import S3Store
from s3sync.cli.common import Common, common_options, group, run_async, s3_url

_NOTES = {
    "conditional_create": "new keys are written with If-None-Match: *",
    "conditional_replace": "replacements use If-Match: a concurrent change becomes a conflict",
    "if_match_quoted": "false: the ETag is sent unquoted (Ceph RGW 16 does this)",
    "versioning": "Enabled keeps overwritten and deleted versions",
    "checksum_headers": "false: integrity rests on Content-MD5 and s3sync's own MD5 metadata",
    "multipart_etag": "multipart ETags are no MD5: s3sync stores one in metadata",
    "signature_version": "",
    "signatures_checked": "false: the server accepts any secret (a test server?)",
}


@group.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@common_options
def doctor(common: Common, url: str, as_json: bool) -> int:
    """Probe what the endpoint behind s3://BUCKET[/PREFIX] supports (writes and removes a tiny object)."""
    target = s3_url(url)
    cfg = common.load_config()
    common.configure_logging(cfg)

    async def job() -> Capabilities:
        async with S3Store.open(common.connection(cfg)) as store:
            await store.bucket_exists(target.bucket)
            return await probe(store, target.bucket, target.prefix)

    found = run_async(job())
    if as_json:
        click.echo(json.dumps({"endpoint": common.connection(cfg).where(), **found.as_dict()}))
        return 0
    for name, value in found.as_dict().items():
        click.echo(f"{name}\t{str(value).lower() if isinstance(value, bool) else value}\t{_NOTES[name]}")
    return 0
