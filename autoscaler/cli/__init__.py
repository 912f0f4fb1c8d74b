"""The `prewarm` command line: one app, one module per subcommand."""

from autoscaler.cli.main import app

__all__ = ["app"]
