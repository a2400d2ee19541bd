def main(payload: object) -> None:
    raise ValueError(f"cannot handle {payload!r}")
