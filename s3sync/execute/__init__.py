"""Carrying out a plan's actions, one layer per kind (see ``s3sync.executor``): ``base``
(what they share), ``transfers`` (uploads, downloads), ``changes`` (modes, deletes),
``conflicts`` (conflicts and displaced files)."""
