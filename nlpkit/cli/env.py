"""`nlpkit env`: versions, devices and the offline state, for bug reports."""

from __future__ import annotations

from nlpkit.cli.options import Format, OutputFormat
from nlpkit.cli.render import print_mapping


def env_cmd(format: Format = OutputFormat.table) -> None:
    """Print versions, devices, the offline state and default models.

    Example: nlpkit env --format json
    """
    from nlpkit.env import collect_env

    print_mapping(collect_env(), format, "nlpkit environment")
