"""The ``continuity`` command line: one group, with the analysis commands in their own module."""

from pipeline.cli.main import main

__all__ = ["main"]
