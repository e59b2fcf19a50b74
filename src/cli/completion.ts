/**
 * `flowgate completion bash|zsh|fish`: a completion script for the shell,
 * generated from the command list and each command's flags.
 */
import { ValidationError } from '../shared/errors.js';
import type { FlagSpec } from './args.js';
import { COMMAND_INFO } from './commands.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** Each command's flag specs. */
async function specsByCommand(): Promise<Array<[string, readonly FlagSpec[]]>> {
  return Promise.all(COMMAND_INFO.map(async (c) => [c.name, await c.flags()] as [string, readonly FlagSpec[]]));
}

/** The words a command's flags complete to (`-n`, `--dry-run`, `--no-dry-run`, ..., `--help`). */
function flagWords(specs: readonly FlagSpec[]): string[] {
  return [...specs.flatMap((f) => (f.type === 'boolean' ? [...(f.short !== undefined ? [`-${f.short}`] : []), `--${f.name}`, `--no-${f.name}`] : [`--${f.name}`])), '--help'];
}

/** The values of every flag with choices (a flag has the same choices in every command). */
function choicesByFlag(commands: Array<[string, readonly FlagSpec[]]>): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const [, specs] of commands) for (const f of specs) if (f.type === 'enum' && f.choices !== undefined && !out.has(f.name)) out.set(f.name, f.choices);
  return out;
}

function bash(commands: Array<[string, readonly FlagSpec[]]>): string {
  const cases = commands.map(([name, specs]) => `    ${name}) opts="${flagWords(specs).join(' ')}" ;;`).join('\n');
  const values = [...choicesByFlag(commands)].map(([flag, choices]) => `    --${flag}) COMPREPLY=($(compgen -W "${choices.join(' ')}" -- "$cur")); return ;;`).join('\n');
  return `# flowgate bash completion: source <(flowgate completion bash)
_flowgate() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" opts
  case "$prev" in
${values}
  esac
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

function zsh(commands: Array<[string, readonly FlagSpec[]]>): string {
  return `#compdef flowgate
# flowgate zsh completion: source <(flowgate completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(commands)}`;
}

function fish(commands: Array<[string, readonly FlagSpec[]]>): string {
  const lines = [`# flowgate fish completion: flowgate completion fish > ~/.config/fish/completions/flowgate.fish`, 'complete -c flowgate -f'];
  for (const c of COMMAND_INFO) lines.push(`complete -c flowgate -n '__fish_use_subcommand' -a ${c.name} -d '${c.summary.replace(/'/g, "\\'")}'`);
  lines.push("complete -c flowgate -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'");
  const choices = choicesByFlag(commands);
  for (const [name, specs] of commands) {
    for (const word of flagWords(specs)) {
      const values = choices.get(word.slice(2));
      const option = word.startsWith('--') ? `-l ${word.slice(2)}` : `-s ${word.slice(1)}`;
      lines.push(`complete -c flowgate -n '__fish_seen_subcommand_from ${name}' ${option}${values !== undefined ? ` -xa '${values.join(' ')}'` : ''}`);
    }
    if (['run', 'submit', 'validate', 'dag'].includes(name)) lines.push(`complete -c flowgate -n '__fish_seen_subcommand_from ${name}' -F`);
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`. */
export async function completionScript(shell: string | undefined): Promise<string> {
  if (!(SHELLS as readonly string[]).includes(shell ?? '')) {
    throw new ValidationError('OPTIONS_INVALID', [{ message: `usage: flowgate completion ${SHELLS.join('|')}${shell !== undefined ? `, received "${shell}"` : ''}` }]);
  }
  const commands = await specsByCommand();
  return shell === 'bash' ? bash(commands) : shell === 'zsh' ? zsh(commands) : fish(commands);
}
