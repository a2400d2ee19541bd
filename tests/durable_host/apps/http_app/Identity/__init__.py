"""Returns its input unchanged, so tests can see the activity encoding both ways."""


def main(value: object) -> object:
    return value
