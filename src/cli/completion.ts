/**
 * `flowgate completion bash|zsh|fish`: a completion script for the shell,
 * generated from the command list and each command's flags.
 */
import { ValidationError } from '../shared/errors.js';
import { COMMAND_INFO } from './commands.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

async function flagsByCommand(): Promise<Array<[string, string[]]>> {
  return Promise.all(
    COMMAND_INFO.map(async (c) => [c.name, [...(await c.flags()).flatMap((f) => (f.type === 'boolean' ? [`--${f.name}`, `--no-${f.name}`] : [`--${f.name}`])), '--help']] as [string, string[]]),
  );
}

function bash(commands: Array<[string, string[]]>): string {
  const cases = commands.map(([name, flags]) => `    ${name}) opts="${flags.join(' ')}" ;;`).join('\n');
  return `# flowgate bash completion: source <(flowgate completion bash)
_flowgate() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.map(([n]) => n).join(' ')} help --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    completion) opts="bash zsh fish" ;;
    *) opts="" ;;
  esac
  if [[ "$cur" == -* || "\${COMP_WORDS[1]}" == completion ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _flowgate flowgate
`;
}

function zsh(commands: Array<[string, string[]]>): string {
  return `#compdef flowgate
# flowgate zsh completion: source <(flowgate completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(commands)}`;
}

function fish(commands: Array<[string, string[]]>): string {
  const lines = [`# flowgate fish completion: flowgate completion fish > ~/.config/fish/completions/flowgate.fish`, 'complete -c flowgate -f'];
  for (const c of COMMAND_INFO) lines.push(`complete -c flowgate -n '__fish_use_subcommand' -a ${c.name} -d '${c.summary.replace(/'/g, "\\'")}'`);
  lines.push("complete -c flowgate -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'");
  for (const [name, flags] of commands) {
    for (const flag of flags) lines.push(`complete -c flowgate -n '__fish_seen_subcommand_from ${name}' -l ${flag.slice(2)}`);
    if (['run', 'submit', 'validate', 'dag'].includes(name)) lines.push(`complete -c flowgate -n '__fish_seen_subcommand_from ${name}' -F`);
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`. */
export async function completionScript(shell: string | undefined): Promise<string> {
  if (!(SHELLS as readonly string[]).includes(shell ?? '')) {
    throw new ValidationError('OPTIONS_INVALID', [{ message: `usage: flowgate completion ${SHELLS.join('|')}${shell !== undefined ? `, received "${shell}"` : ''}` }]);
  }
  const commands = await flagsByCommand();
  return shell === 'bash' ? bash(commands) : shell === 'zsh' ? zsh(commands) : fish(commands);
}
