"""Prefixes its input: the output shows the order activities ran in."""


def main(value: str) -> str:
    return f"Hello {value}"
