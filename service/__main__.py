from service.ops.cli import cli

cli(prog_name="python -m service")
