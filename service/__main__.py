from service.ops import audit_cli, projecting
from service.ops.cli import cli

audit_cli.register(cli)
projecting.register(cli)
cli(prog_name="python -m service")
