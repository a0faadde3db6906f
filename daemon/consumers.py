"""Names for consumer-group members: unique per process and start, readable in XINFO."""

from __future__ import annotations

import os
import socket
import uuid


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
