"""The command line: parse, call the layers below, render. Data goes to stdout,
diagnostics to stderr; every failure ends in `output.abort` with a documented exit code."""
