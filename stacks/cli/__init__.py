"""The `mlenv` command, one module per command group."""
