"""Implementations of core's ports that touch the outside world.

- ``storage.db``: async engines (SQLite / PostgreSQL) and ``migrate`` (Alembic, at start-up);
- ``storage.tables``: the schema models; ``storage/migrations``: the only way it changes;
- ``storage.repositories``: ``SqlStore`` (``core.ports.Store``);
- ``storage.cache``: ``RedisKV`` (``core.ports.KeyValueStore``);
- ``storage.blobs``: ``LocalBlobStore`` and ``S3BlobStore`` (``core.ports.BlobStore``).
"""
