"""s3sync: keep local folders and S3-compatible buckets mirrored, both ways."""

from s3sync.api import AsyncClient, Client
from s3sync.core.model import Bucket, ObjectInfo

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Bucket", "Client", "ObjectInfo", "__version__"]
