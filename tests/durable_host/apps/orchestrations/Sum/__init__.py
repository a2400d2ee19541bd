"""Adds up a list of numbers."""


def main(value: list) -> int:
    return sum(value)
