"""Squares a number after a short pause, so that fan-outs overlap."""

import time


def main(value: int) -> int:
    time.sleep(0.05)
    return value * value
