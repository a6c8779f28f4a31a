"""Shell completion scripts for bash and zsh, generated from the command registry, so a new
command completes without anyone editing a script."""

from __future__ import annotations

from labcloud.cli.output import FORMATS
from labcloud.cli.registry import COMMANDS, Command

GLOBAL_OPTIONS = ("-f", "--format", "-c", "--column", "--lab", "--project", "--debug", "--help")


def _tree() -> dict[str, list[str]]:
    """Each command prefix ("" for the top) -> the words that may follow it."""
    nxt: dict[str, set[str]] = {}
    for words in COMMANDS:
        for i, word in enumerate(words):
            nxt.setdefault(" ".join(words[:i]), set()).add(word)
    return {k: sorted(v) for k, v in nxt.items()}


def _options(cmd: Command) -> list[str]:
    opts = [flag for a in cmd.args for flag in a.flags if flag.startswith("-")]
    return sorted(set(opts) | set(GLOBAL_OPTIONS))


def bash() -> str:
    cases = []
    for prefix, words in sorted(_tree().items()):
        cases.append(f'        "{prefix}") words="{" ".join(words)}" ;;')
    opts = []
    for command, cmd in sorted(COMMANDS.items()):
        opts.append(f'        "{" ".join(command)}") opts="{" ".join(_options(cmd))}" ;;')
    return f"""# bash completion for labcloud; load with: source <(labcloud completion bash)
_labcloud() {{
    local cur prev prefix="" w words="" opts="" i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if [[ "$prev" == "-f" || "$prev" == "--format" ]]; then
        COMPREPLY=($(compgen -W "{" ".join(FORMATS)}" -- "$cur")); return
    fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        [[ "$w" == -* ]] && continue
        _labcloud_next "$prefix"
        [[ " $words " == *" $w "* ]] || break
        prefix="${{prefix:+$prefix }}$w"
    done
    _labcloud_next "$prefix"
    _labcloud_opts "$prefix"
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${{opts:-{" ".join(GLOBAL_OPTIONS)}}}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}}
_labcloud_next() {{
    words=""
    case "$1" in
{chr(10).join(cases)}
    esac
}}
_labcloud_opts() {{
    opts=""
    case "$1" in
{chr(10).join(opts)}
    esac
}}
complete -F _labcloud labcloud
"""


def zsh() -> str:
    # zsh runs bash completion functions through bashcompinit: one generator, two shells.
    return (
        "#compdef labcloud\n"
        "# zsh completion for labcloud; load with: source <(labcloud completion zsh)\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash()
    )
