"""`python -m snapprice`: the same as the `snapprice` command."""

from snapprice.cli import entry

if __name__ == "__main__":
    entry()
