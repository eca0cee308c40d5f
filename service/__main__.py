from service.ops import audit_cli
from service.ops.cli import cli

audit_cli.register(cli)
cli(prog_name="python -m service")
