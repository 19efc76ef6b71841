"""`oktasync completion bash|zsh|fish`: the shell completion script, from click's shell completion."""

from __future__ import annotations

import click

from oktasync.cli.context import echo_line

# The environment variable click's completion reads (``_<PROG>_COMPLETE``), set by the printed script.
COMPLETE_VAR = "_OKTASYNC_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> int:
    """Print the completion script for SHELL: commands, options, and playbook names for `playbook run`.

    bash: eval "$(oktasync completion bash)" in ~/.bashrc (bash 4.4 or later);
    zsh: eval "$(oktasync completion zsh)" in ~/.zshrc;
    fish: oktasync completion fish > ~/.config/fish/completions/oktasync.fish
    """
    from click.shell_completion import get_completion_class

    from oktasync.cli import cli

    completion_class = get_completion_class(shell)
    if completion_class is None:  # click knows the three shells offered above
        raise click.UsageError(f"no completion for {shell}")
    script = completion_class(cli, {}, "oktasync", COMPLETE_VAR).source()
    echo_line(script.rstrip("\n"))
    return 0
