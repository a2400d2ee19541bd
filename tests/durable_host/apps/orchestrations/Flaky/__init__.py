"""Fails the first `failures` calls for a key, then returns the attempt number."""

import collections

attempts: collections.Counter = collections.Counter()


def main(value: dict) -> int:
    attempts[value["key"]] += 1
    attempt = attempts[value["key"]]
    if attempt <= value["failures"]:
        raise ValueError(f"attempt {attempt} of {value['key']} failed")
    return attempt
