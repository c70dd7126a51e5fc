"""The `orbweaver` command: one artefact, roles switched by sub-command.

Each stage registers its own commands (`<stage>/commands.py`); heavy imports stay inside the
command functions so that `orbweaver --help` is instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="orbweaver",
    help="Find known abuse imagery by fingerprint, get it removed, measure every provider.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Stages that contribute commands, in the order they appear in --help.
COMMAND_MODULES = (
    "orbweaver.config_commands",
    "orbweaver.run_commands",
    "orbweaver.store.commands",
    "orbweaver.signals.commands",
    "orbweaver.banks.commands",
    "orbweaver.exchanges.commands",
    "orbweaver.crawl.commands",
    "orbweaver.web.commands",
    "orbweaver.review.commands",
    "orbweaver.attribution.commands",
    "orbweaver.notices.commands",
    "orbweaver.monitor.commands",
    "orbweaver.evidence.commands",
    "orbweaver.reports.commands",
    "orbweaver.sim.commands",
    "orbweaver.demo",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
