"""`python -m snapprice`: the same as the `snapprice` command."""

from snapprice.cli import main

if __name__ == "__main__":
    main()
