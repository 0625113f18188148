"""Path converters for the shop's URLs."""

# The largest id a database row can have: Django's BigAutoField is a signed 64-bit integer.
MAX_ROW_ID = 2**63 - 1


class RowIdConverter:
    """A row's id in a path: digits naming a value a database id column can hold.

    Django's `int` converter takes any number of digits, and a lookup with one beyond 64 bits is an
    OverflowError (a 500) on SQLite. Such an id names no row, so the path does not match: a 404.
    """

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ROW_ID:
            raise ValueError(f"{value} is beyond any row id")  # the resolver answers 404
        return number

    def to_url(self, value) -> str:
        return str(value)
