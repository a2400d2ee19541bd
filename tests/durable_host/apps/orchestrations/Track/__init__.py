"""One of Crowd's calls; test_engine_concurrency replaces it with one that reports how many ran
at once."""


def main(value: int) -> int:
    return 1
