"""The background service behind `s3sync watch`: one asyncio loop keeping pairs mirrored.

Theory of operation. Per pair, a watchdog observer turns file-system events into
*hints* (which paths to look at, never what happened to them); a debouncer waits for
quiet before a batch of hints becomes a scoped pass that re-stats those paths, HEADs
their keys and runs the same reconciler, rails and executor as `s3sync sync`. A
scheduled listing of the remote prefix finds remote changes, and a periodic full sync
catches whatever the watcher missed. Each pair runs one pass at a time and backs off
on its own when its endpoint fails.
"""
