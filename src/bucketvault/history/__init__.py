"""history: snapshots of backup buckets, their records, retention and restore sources.

A *snapshot* is what one backup run saw in one bucket: every key with its size,
checksum, content headers, user metadata, tags and where its bytes live in the backup
bucket. Snapshots are stored in the backup bucket itself under `.bucketvault/`
(`layout.py`), one gzip-compressed JSON-lines file each (`record.py`), published only
after every object they name is durable (`catalog.py`). A backup is a mirror whose
target is the backup bucket seen through the latest snapshot (`target.py`); a restore
or verify reads a snapshot as a read-only bucket (`source.py`); `prune.py` removes
what no kept snapshot names, following `retention.py`.
"""
