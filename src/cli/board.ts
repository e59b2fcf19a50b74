/**
 * `flowgate board`: the web board (JSON API, metrics, Bull Board, dashboard)
 * until SIGINT or SIGTERM.
 */
import { ExitCode, ValidationError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { checkRedis } from '../shared/redis.js';
import { Flags, parseArgs, type FlagSpec } from './args.js';
import { connectionWithIssues, CONNECTION_FLAGS } from './connection.js';

export const BOARD_FLAGS: readonly FlagSpec[] = [
  { name: 'port', type: 'int', min: 0, value: 'N', help: 'port to listen on (default $FLOWGATE_BOARD_PORT or 3000; 0: any free port)' },
  { name: 'host', type: 'string', value: 'H', help: 'address to listen on (default $FLOWGATE_BOARD_HOST or 127.0.0.1; any other address needs auth or --insecure)' },
  { name: 'insecure', type: 'boolean', help: 'allow listening beyond loopback without auth (also $FLOWGATE_BOARD_INSECURE=1); warns at every start' },
  ...CONNECTION_FLAGS,
];

function hostInUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Serves the board until a signal; returns the exit code. */
export async function boardCommand(argv: readonly string[]): Promise<number> {
  const flags = new Flags(parseArgs(argv, BOARD_FLAGS));
  if (flags.positionals.length > 0) throw new ValidationError('OPTIONS_INVALID', [{ message: `unexpected argument "${flags.positionals[0] ?? ''}"` }]);
  const { connection, issues } = connectionWithIssues(flags);
  const { boardSettings, describeConfig, exposureWarning } = await import('../board/config.js');
  const board = boardSettings({ port: flags.num('port'), host: flags.str('host'), insecure: flags.bool('insecure', false) }, process.env);
  issues.push(...board.issues);
  if (issues.length > 0) throw new ValidationError('OPTIONS_INVALID', issues);
  const { settings } = board;
  const { redisUrl, prefix } = connection;
  process.stderr.write(`flowgate board: config ${describeConfig(settings, redisUrl, prefix)}\n`);
  const warning = exposureWarning(settings);
  if (warning !== undefined) process.stderr.write(`${warning}\n`);

  const logger = createLogger(connection.logLevel).child({ component: 'board' });
  // Handlers go in first: a signal during start-up still ends in a clean exit 0.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (s: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(s);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await checkRedis(redisUrl);
  const { startBoard } = await import('../board/app.js');
  const running = await startBoard({ redisUrl, prefix, writable: settings.writable, ...(settings.auth !== undefined ? { auth: settings.auth } : {}), logger, host: settings.host, port: settings.port }).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw new ValidationError('OPTIONS_INVALID', [{ field: '--port', message: `cannot listen on ${settings.host}:${settings.port} (${code})` }], { cause: err });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new ValidationError('OPTIONS_INVALID', [{ field: '--host', message: `cannot listen on ${settings.host} (${code})` }], { cause: err });
    throw err;
  });
  process.stderr.write(`board listening on http://${hostInUrl(running.host)}:${running.port}\n`);
  const signal = await stopped;
  logger.info({ signal }, 'board: stopping');
  await running.close();
  return ExitCode.ok;
}
