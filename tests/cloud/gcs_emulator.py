"""Start gcp-storage-emulator keeping every object name Cloud Storage accepts.

The emulator stores each object's bytes under a file path made from its name, which it
normalises: ``a//b``, ``/a/b`` and ``a/./b`` share one file, and a name with a ``..`` part
makes it drop the connection. Cloud Storage itself keeps all of them as distinct objects
(only the whole names ``.`` and ``..`` are refused), and they are what the download tests
need. Here the bytes are stored under the name percent-encoded (one flat, distinct key per
name); names in listings and metadata are the emulator's own, unchanged.

Usage: python tests/cloud/gcs_emulator.py start --host 127.0.0.1 --port PORT --in-memory
"""

from __future__ import annotations

import sys
from urllib.parse import quote

from gcp_storage_emulator import __main__ as emulator
from gcp_storage_emulator.storage import Storage


def _object_path(self, bucket_name: str, file_name: str) -> str:
    return f"{bucket_name}/{quote(file_name, safe='')}"


Storage._object_path = _object_path

if __name__ == "__main__":
    emulator.main()
