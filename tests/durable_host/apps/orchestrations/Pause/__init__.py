"""Returns its input after a pause, like a call to a slow service."""

import time


def main(value: int) -> int:
    time.sleep(0.15)
    return value
