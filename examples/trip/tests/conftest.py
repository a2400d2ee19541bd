"""The trip app's shared modules (trip_saga, trip_services, ...) importable by its tests, as the
Functions worker and durable_host import them: from the app folder, which is on sys.path."""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))
