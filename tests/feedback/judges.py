"""Rule judges for the evaluation tests, importable as `judges:<name>` (the tests put this folder on sys.path)."""


def always_first(prompt, a, b):
    return 1.0


def never_first(prompt, a, b):
    return 0.0
