"""Returns a string of the requested length (large ones exceed a table property)."""


def main(value: int) -> str:
    return "x" * value
