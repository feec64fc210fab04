"""``python -m pipeline.cli``: the same as the ``continuity`` command."""

from pipeline.cli.main import main

if __name__ == "__main__":
    main()
