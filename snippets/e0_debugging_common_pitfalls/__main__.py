"""``python -m snippets.e0_debugging_common_pitfalls``: run the atlas (see ``main``)."""

# --8<-- [start:entry]
from snippets.e0_debugging_common_pitfalls import main

if __name__ == "__main__":
    main()
# --8<-- [end:entry]
