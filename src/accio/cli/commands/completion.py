"""``accio completion bash|zsh|fish``: a static completion script from the command table.

Generated from the argparse parsers themselves (commands, their type words or actions, their
flags), so it never drifts from the CLI; nothing runs Accio at completion time, so a <TAB> costs
no Python start-up. Install: ``source <(accio completion bash)`` (zsh likewise; fish: ``accio
completion fish > ~/.config/fish/completions/accio.fish``).
"""

from __future__ import annotations

import argparse
from typing import Any

from accio.cli import render as out
from accio.errors import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


def register(subparsers: Any) -> None:
    completion = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script: 'source <(accio completion bash)' in ~/.bashrc, "
        "'source <(accio completion zsh)' in ~/.zshrc, or 'accio completion fish > "
        "~/.config/fish/completions/accio.fish'.",
    )
    completion.add_argument("shell", choices=SHELLS, help="bash, zsh or fish")
    completion.set_defaults(handler=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    from accio.cli.main import build_parser

    table = command_table(build_parser())
    script = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[args.shell](table)
    out.print_line(script.rstrip("\n"))
    return EXIT_OK


def _words_of(name: str) -> list[str]:
    """The words a command takes as its first argument (type words, actions)."""
    from accio.cli.commands import describe, get

    words = {
        "get": list(get.TYPE_WORDS),
        "list": [],
        "describe": list(describe.DESCRIBE_WORDS),
        "delete": ["run"],
        "server": ["start", "stop", "status"],
    }
    return words.get(name, [])


def command_table(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """``{command: [words and flags]}``, plus ``""`` for the top level (commands and flags)."""
    table: dict[str, list[str]] = {}
    top = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                items: list[str] = _words_of(name)
                for a in sub._actions:
                    if a.choices is not None and not a.option_strings:
                        items.extend(str(c) for c in a.choices)
                    if a.help != argparse.SUPPRESS:
                        items.extend(o for o in a.option_strings if o.startswith("--"))
                table[name] = list(dict.fromkeys(items))
            table[""] = [*action.choices, *top]
    if "help" in table:
        table["help"] = [c for c in table if c]
    return table


def bash_script(table: dict[str, list[str]]) -> str:
    cases = "\n".join(
        f'        {name}) words="{" ".join(items)}" ;;' for name, items in table.items() if name
    )
    return f"""# accio completion for bash: source <(accio completion bash)
_accio() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}"
    local words=""
    if [ "$COMP_CWORD" -le 1 ]; then
        words="{" ".join(table[""])}"
    else
        case "${{COMP_WORDS[1]}}" in
{cases}
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    if [ ${{#COMPREPLY[@]}} -eq 0 ] && [ "$COMP_CWORD" -gt 1 ]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -F _accio accio
"""


def zsh_script(table: dict[str, list[str]]) -> str:
    return (
        "# accio completion for zsh: source <(accio completion zsh)\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(table).split("\n", 1)[1]
    )


def fish_script(table: dict[str, list[str]]) -> str:
    commands = [c for c in table if c]
    lines = [
        "# accio completion for fish: accio completion fish > ~/.config/fish/completions/accio.fish",
        "complete -c accio -f",
        f"complete -c accio -n __fish_use_subcommand -a '{' '.join(commands)}'",
    ]
    for name in commands:
        words = [w for w in table[name] if not w.startswith("-")]
        flags = [w[2:] for w in table[name] if w.startswith("--")]
        cond = f"'__fish_seen_subcommand_from {name}'"
        if words:
            lines.append(f"complete -c accio -n {cond} -a '{' '.join(words)}'")
        lines.extend(f"complete -c accio -n {cond} -l {flag}" for flag in flags)
    return "\n".join(lines) + "\n"
