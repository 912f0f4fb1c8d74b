"""The `prewarm` command line: one app, one module per subcommand."""

from prewarm_cli.main import app

__all__ = ["app"]
