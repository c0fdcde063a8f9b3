"""Is the process that wrote a ``running`` record still alive?

A run's manifest (and a search trial) records the ``pid`` and ``host`` of its process and a
``heartbeat`` timestamp refreshed at least every minute while batches run. A record that
still says ``running`` is judged by them:

- on this host: the process is gone (``os.kill(pid, 0)`` fails) -> interrupted;
- on another host, or a live pid whose heartbeat is older than ``stale_after`` seconds
  (the pid was reused, or the process hangs) -> interrupted;
- otherwise -> still running.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

#: Default age (seconds) after which a heartbeat is taken as dead.
STALE_AFTER = 3600.0


def pid_alive(pid: int) -> bool:
    """Whether a live process with this id exists on this machine.

    Signal 0 probes without sending (``man 2 kill``); on Linux a zombie (state ``Z`` in
    ``/proc/<pid>/stat``: dead, not yet reaped) counts as dead.
    """
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    except (OSError, ValueError, TypeError):
        return False
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:  # no /proc (macOS), or the process just ended
        return not Path("/proc").is_dir()
    return stat.rpartition(")")[2].split()[0] != "Z"


def heartbeat_age(heartbeat: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO 8601 timestamp (naive ones are taken as UTC); ``None`` if unreadable."""
    if not heartbeat:
        return None
    try:
        beat = datetime.fromisoformat(str(heartbeat))
    except ValueError:
        return None
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    return ((now or datetime.now(timezone.utc)) - beat).total_seconds()


def process_alive(record: dict[str, Any], stale_after: float = STALE_AFTER) -> bool:
    """Whether the process behind a ``running`` record (keys ``pid``, ``host``, ``heartbeat``) still runs.

    Records without a pid (written by an older trainlab) are judged by the heartbeat alone;
    a record with neither is taken as alive (nothing proves otherwise).
    """
    age = heartbeat_age(record.get("heartbeat"))
    fresh = age is None or age <= stale_after
    pid, host = record.get("pid"), record.get("host")
    if pid is not None and host == socket.gethostname():
        return pid_alive(pid) and fresh
    return fresh
