"""Reports how many Track calls were running at once (the most seen so far)."""

import threading
import time

_lock = threading.Lock()
_running = 0
_most = 0


def main(value: int) -> int:
    global _running, _most
    with _lock:
        _running += 1
        _most = max(_most, _running)
    time.sleep(0.1)
    with _lock:
        _running -= 1
        return _most
