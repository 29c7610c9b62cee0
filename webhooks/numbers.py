"""Reading whole numbers that people and receivers write."""


def plain_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits. ``str.isdigit()`` alone also takes
    characters such as "²", "①" or "１", which ``int()`` and ``float()`` then refuse."""
    return text.isascii() and text.isdigit()
