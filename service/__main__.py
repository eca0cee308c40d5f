from service.cli import cli

cli(prog_name="python -m service")
