from service.ops import audit_cli, heap, projecting
from service.ops.cli import cli

audit_cli.register(cli)
projecting.register(cli)
heap.tune()
heap.freeze_startup()
cli(prog_name="python -m service")
