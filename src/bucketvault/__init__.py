"""bucketvault: backup and restore for MinIO and S3-compatible object storage.

The public surface is the command line (`bucketvault --help`) and the HTTP API
(`bucketvault serve`); the packages below are layered store → mirror → tasks →
plans → cli/api, each importing only from the layers beneath it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
