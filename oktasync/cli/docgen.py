"""Render the CLI reference (``docs/cli.md``) from click's own help for every command and subcommand.

The help text is written once, on the commands; this module only lays it out. Regenerate with
``.venv/bin/python -m oktasync.cli.docgen > docs/cli.md`` (``tests/audit/test_cli_reference.py`` fails when
the file is out of date).
"""

from __future__ import annotations

import click

from oktasync.cli import cli

# A fixed width so the reference does not depend on the terminal that generated it.
WIDTH = 100

HEADER = """\
# CLI reference

Generated from the commands' own `--help` by `python -m oktasync.cli.docgen`; do not edit by hand.
Regenerate with `.venv/bin/python -m oktasync.cli.docgen > docs/cli.md` (a test fails when it is stale).
"""


def _help(command: click.Command, name: str, parent: click.Context | None) -> tuple[click.Context, str]:
    # The command's own context_settings (the root's -h/--help), as click applies them when it runs.
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    return ctx, command.get_help(ctx)


def _sections(command: click.Command, name: str, parent: click.Context | None) -> list[tuple[str, str]]:
    """(full command path, help text) for a command and, depth first, every subcommand it has."""
    ctx, text = _help(command, name, parent)
    sections = [(ctx.command_path, text)]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                sections.extend(_sections(sub, sub_name, ctx))
    return sections


def render() -> str:
    """The whole reference as Markdown: a contents list, then one section per command."""
    sections = _sections(cli, "oktasync", None)
    contents = [f"- [`{path}`](#{path.replace(' ', '-')})" for path, _ in sections]  # heading anchors
    body = [f"## `{path}`\n\n```\n{text}\n```\n" for path, text in sections]
    return "\n".join([HEADER, *contents, "", *body])


def main() -> None:
    click.echo(render(), nl=False)


if __name__ == "__main__":
    main()
