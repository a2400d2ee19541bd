"""Says it started (by creating the marker file it is given), then runs for two minutes."""

import pathlib
import time


def main(marker: str) -> str:
    pathlib.Path(marker).touch()
    time.sleep(120)
    return "woke up"
