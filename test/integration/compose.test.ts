/**
 * docker-compose.yml and the Dockerfile, checked without a Docker engine.
 *
 * Statically: `docker-compose config -q` accepts the file (and rejects a
 * broken copy, so the check can fail), and the file and the Dockerfile have
 * the properties the deployment relies on.
 *
 * End to end: each service's `command` and `environment` are taken from the
 * compose file and run as local `flowgate` processes — scheduler, two workers
 * (as `--scale worker=2`), board — with only the container-specific parts
 * mapped (the Redis host, the volume paths, /app, a prefix and a port of the
 * test's own). The demo service's command must then finish the demo run with
 * every node succeeded, the board must list it, and every service must stop
 * cleanly on SIGTERM.
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/scheduler/summary.js';
import { CLI, runCli, startCli, tempDir, type CliProcess, type CliResult } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { composeCli as findComposeCli, needTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait-for.js';

const ROOT = resolve(import.meta.dirname, '../..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const DOCKERFILE = join(ROOT, 'Dockerfile');
const AUTH_OVERLAY = join(ROOT, 'docker-compose.board-auth.yml');

/** The environment without flowgate's variables, as on a host where none is set. */
function hostEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLOWGATE_')));
}
/** The services that run the flowgate image. */
const FLOWGATE_SERVICES = ['scheduler', 'worker', 'board', 'demo'] as const;

type EnvValue = string | number | boolean | null;

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, EnvValue> | string[];
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
  ports?: Array<string | number | { target: number; published?: string | number }>;
  healthcheck?: { test?: string[] | string };
  depends_on?: string[] | Record<string, { condition?: string }>;
  init?: boolean;
  stop_grace_period?: string;
  container_name?: string;
  restart?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

function loadCompose(path = COMPOSE_FILE): ComposeFile {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
}

function serviceOf(compose: ComposeFile, name: string): ComposeService {
  const svc = compose.services[name];
  if (svc === undefined) throw new Error(`docker-compose.yml has no service "${name}"`);
  return svc;
}

/**
 * Compose interpolation as `docker compose up` does it with none of the
 * variables set in the host environment: `${VAR:-default}` and
 * `${VAR-default}` give the default, `${VAR}` gives "" and `$$` is a "$".
 */
function withDefaults(text: string): string {
  const out = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (match, _name: string, op?: string, def?: string) =>
    match === '$$' ? '\u0000' : op !== undefined ? (def ?? '') : '',
  );
  if (out.includes('$')) throw new Error(`unsupported interpolation in "${text}"`);
  return out.replaceAll('\u0000', '$');
}

function environmentOf(svc: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  if (Array.isArray(svc.environment)) {
    for (const entry of svc.environment) {
      const eq = entry.indexOf('=');
      if (eq > 0) env[entry.slice(0, eq)] = withDefaults(entry.slice(eq + 1));
    }
  } else {
    for (const [k, v] of Object.entries(svc.environment ?? {})) env[k] = v === null ? '' : withDefaults(String(v));
  }
  return env;
}

/** Named volumes of a service as [volume, mount path]. */
function namedVolumes(svc: ComposeService): Array<[string, string]> {
  return (svc.volumes ?? []).flatMap((v): Array<[string, string]> => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':');
      return source !== undefined && target !== undefined && !/^[./~]/.test(source) ? [[source, target]] : [];
    }
    return (v.type ?? 'volume') === 'volume' && v.source !== undefined ? [[v.source, v.target]] : [];
  });
}

function commandOf(svc: ComposeService): string[] {
  if (!Array.isArray(svc.command)) throw new Error('flowgate services must give their command in exec (list) form');
  return svc.command.map(withDefaults);
}

/** A compose duration ("10m", "1m30s") in milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a compose duration: "${text}"`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * (units[p[2] as string] ?? 0), 0);
}

/** The stages of a Dockerfile, each as its instruction lines (continuations joined). */
function dockerStages(text: string): string[][] {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push([line]);
    else stages.at(-1)?.push(line);
  }
  return stages;
}

/** The WORKDIR of the image (the Dockerfile's final stage). */
function imageWorkdir(): string {
  const finalStage = dockerStages(readFileSync(DOCKERFILE, 'utf8')).at(-1) ?? [];
  const workdir = finalStage.filter((l) => /^WORKDIR\s/i.test(l)).at(-1);
  if (workdir === undefined) throw new Error('the Dockerfile sets no WORKDIR');
  return workdir.split(/\s+/)[1] as string;
}

/** A compose CLI: docker-compose v1 (scripts/setup.sh installs it) or the `docker compose` plugin. */
function composeCli(): string[] {
  const cli = findComposeCli();
  if (cli === undefined) throw new Error('neither docker-compose nor `docker compose` is installed (apt-get install docker-compose)');
  return cli;
}

function composeConfig(cli: string[], file: string): { status: number | null; output: string } {
  const res = spawnSync(cli[0] as string, [...cli.slice(1), '-f', file, 'config', '-q'], { encoding: 'utf8', timeout: 30_000 });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function exitWithin(p: CliProcess, ms: number, what: string): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not exit within ${ms} ms of SIGTERM; stderr:\n${p.stderr().slice(-2000)}`)), ms);
  });
  try {
    return await Promise.race([p.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const started: CliProcess[] = [];
const prefixes: string[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const p of prefixes.splice(0)) await deletePrefix(p);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * The arguments after the health check script of a flowgate service's compose
 * healthcheck (`["CMD", "node", "/app/dist/cli/healthcheck.js", ...args]`),
 * after checking that the script is the one the build makes.
 */
function healthcheckArgs(svc: ComposeService): string[] {
  const raw = svc.healthcheck?.test ?? [];
  const test = Array.isArray(raw) ? raw : [raw];
  expect(test.slice(0, 2), 'a flowgate health check runs node').toEqual(['CMD', 'node']);
  expect(resolve(ROOT, (test[2] ?? '').replace(new RegExp(`^${imageWorkdir()}/`), ''))).toBe(join(ROOT, 'dist', 'cli', 'healthcheck.js'));
  return test.slice(3);
}

describe('docker-compose.yml and Dockerfile (static)', () => {
  describe('docker-compose config', () => {
    needTool('docker-compose');
    it('is accepted by docker-compose config, and a broken copy is not', () => {
      const cli = composeCli();
      const ok = composeConfig(cli, COMPOSE_FILE);
      expect(ok.status, ok.output).toBe(0);

      const dir = tempDir('fg-compose-static');
      dirs.push(dir);
      const copy = join(dir, 'docker-compose.yml');
      copyFileSync(COMPOSE_FILE, copy);
      const control = composeConfig(cli, copy);
      expect(control.status, `an unmodified copy must pass too: ${control.output}`).toBe(0);
      const text = readFileSync(copy, 'utf8');
      expect(text).toContain('stop_grace_period:');
      writeFileSync(copy, text.replace('stop_grace_period:', 'stop_grace_periods:'));
      const broken = composeConfig(cli, copy);
      expect(broken.status).not.toBe(0);
      expect(broken.output).toMatch(/stop_grace_periods/);
    });

    it('accepts deploy/swarm/stack.yml with the NFS server given, and refuses it without one, naming the variable', () => {
      const cli = composeCli();
      const stack = join(ROOT, 'deploy', 'swarm', 'stack.yml');
      const run = (env: NodeJS.ProcessEnv): { status: number | null; output: string } => {
        const res = spawnSync(cli[0] as string, [...cli.slice(1), '-f', stack, 'config', '-q'], { encoding: 'utf8', timeout: 30_000, env });
        return { status: res.status, output: `${res.stdout}${res.stderr}` };
      };
      const ok = run({ ...hostEnv(), FLOWGATE_NFS_SERVER: 'nfs.example.internal' });
      expect(ok.status, ok.output).toBe(0);
      const missing = run(hostEnv());
      expect(missing.status).not.toBe(0);
      expect(missing.output).toContain('set FLOWGATE_NFS_SERVER');
    });

    it('adds Basic auth from a Docker secret with docker-compose.board-auth.yml, still on loopback', () => {
      const cli = composeCli();
      const res = spawnSync(cli[0] as string, [...cli.slice(1), '-f', COMPOSE_FILE, '-f', AUTH_OVERLAY, 'config'], { encoding: 'utf8', timeout: 30_000, env: hostEnv() });
      expect(res.status, res.stderr).toBe(0);
      const board = serviceOf(parse(res.stdout) as ComposeFile, 'board') as ComposeService & { secrets?: Array<string | { source: string }> };
      expect(environmentOf(board)).toMatchObject({ FLOWGATE_BOARD_HOST: '0.0.0.0', FLOWGATE_BOARD_INSECURE: '0', FLOWGATE_BOARD_USER: 'admin', FLOWGATE_BOARD_PASSWORD_FILE: '/run/secrets/board_password', FLOWGATE_BOARD_WRITE: '0' });
      expect((board.secrets ?? []).map((x) => (typeof x === 'string' ? x : x.source))).toEqual(['board_password']);
      for (const p of board.ports ?? []) expect(typeof p === 'object' ? (p as { host_ip?: string }).host_ip : String(p)).toMatch(/^127\.0\.0\.1/);
      // The secret never reaches git or the image.
      for (const ignore of ['.gitignore', '.dockerignore']) expect(readFileSync(join(ROOT, ignore), 'utf8').split(/\r?\n/), ignore).toContain('board_password.txt');
    });
  });

  it('runs Redis with AOF, noeviction and a health check, and every flowgate service as the spec says', () => {
    const compose = loadCompose();
    const text = readFileSync(COMPOSE_FILE, 'utf8');
    // Every variable has a default: `docker compose up` needs no settings.
    expect(text.match(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/g) ?? []).toEqual([]);

    const redis = serviceOf(compose, 'redis');
    const redisCommand = Array.isArray(redis.command) ? redis.command.join(' ') : (redis.command ?? '');
    expect(redisCommand).toMatch(/--appendonly yes/);
    expect(redisCommand).toMatch(/--maxmemory-policy noeviction/);
    expect(JSON.stringify(redis.healthcheck?.test)).toMatch(/redis-cli.*ping/);
    expect(namedVolumes(redis)).toContainEqual(['redis-data', '/data']);

    const worker = serviceOf(compose, 'worker');
    expect(commandOf(worker)).toEqual(['worker']);
    expect(worker.init).toBe(true);
    // Running nodes get time to finish; the worker requeues what is left before Docker kills it.
    const grace = durationMs(worker.stop_grace_period ?? '');
    expect(grace).toBeGreaterThanOrEqual(60_000);
    const deadline = Number(environmentOf(worker)['FLOWGATE_SHUTDOWN_DEADLINE_MS']);
    expect(deadline).toBeGreaterThan(0);
    expect(deadline).toBeLessThan(grace);
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();

    const scheduler = serviceOf(compose, 'scheduler');
    expect(commandOf(scheduler)).toEqual(['scheduler']);
    expect(scheduler.restart).toBe('unless-stopped');
    expect(Object.keys(environmentOf(scheduler))).toEqual(expect.arrayContaining(['REDIS_URL', 'FLOWGATE_WORK_DIR', 'FLOWGATE_N_PROCS', 'FLOWGATE_MEMORY_GB']));

    const board = serviceOf(compose, 'board');
    expect(commandOf(board)).toEqual(['board']);
    const boardPorts = (board.ports ?? []).map((p) => withDefaults(String(p)));
    expect(boardPorts).toContainEqual(expect.stringMatching(/(^|:)3000:3000(\/tcp)?$/));
    // Without auth the board is published on the host's loopback interface only, whatever the settings.
    for (const p of boardPorts) expect(p).toMatch(/^127\.0\.0\.1:/);
    expect(healthcheckArgs(board)).toEqual(['board']);
    // 0.0.0.0 inside the container needs auth or an explicit, warned --insecure.
    expect(environmentOf(board)).toMatchObject({ FLOWGATE_BOARD_HOST: '0.0.0.0', FLOWGATE_BOARD_INSECURE: '1' });
    expect(Object.keys(environmentOf(board)).filter((k) => /USER|PASSWORD|WRITE/.test(k))).toEqual([]);

    const demo = serviceOf(compose, 'demo');
    expect(commandOf(demo).slice(0, 1)).toEqual(['submit']);
    expect(commandOf(demo)).toContain('--wait');
    expect(demo.restart).toBe('no');

    // One image, one Redis, one shared work volume for all flowgate services.
    const work = namedVolumes(scheduler).find(([, target]) => target === environmentOf(scheduler)['FLOWGATE_WORK_DIR']);
    expect(work, 'the scheduler mounts a named volume at FLOWGATE_WORK_DIR').toBeDefined();
    for (const name of FLOWGATE_SERVICES) {
      const svc = serviceOf(compose, name);
      expect(svc.build, `${name} is built from the Dockerfile`).toBeDefined();
      expect(namedVolumes(svc), `${name} mounts the work volume`).toContainEqual(work);
      expect(environmentOf(svc)['REDIS_URL'], name).toBe('redis://redis:6379');
      const dependsOn = Array.isArray(svc.depends_on) ? {} : (svc.depends_on ?? {});
      expect(dependsOn['redis']?.condition, `${name} waits for a healthy Redis`).toBe('service_healthy');
    }
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['redis-data', 'work']);

    // Every long-running service has a health check; each flowgate one checks its own service.
    const longRunning = Object.entries(compose.services).filter(([, svc]) => svc.restart !== 'no');
    expect(longRunning.map(([name]) => name).sort()).toEqual(['board', 'redis', 'scheduler', 'worker']);
    for (const [name, svc] of longRunning) expect(svc.healthcheck?.test, `${name} has a health check`).toBeDefined();
    expect(healthcheckArgs(scheduler)).toEqual(['scheduler']);
    expect(healthcheckArgs(worker)).toEqual(['worker']);
  });

  it('builds the image in two stages and runs it as a non-root user with production dependencies only', () => {
    const stages = dockerStages(readFileSync(DOCKERFILE, 'utf8'));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    // Node LTS lines supported in December 2026: 22 (to April 2027) and 24 (to April 2028); 20 ended in April 2026.
    for (const stage of stages) expect(['22', '24'], stage[0]).toContain(/^FROM node:(\d+)-bookworm-slim\b/.exec(stage[0] ?? '')?.[1]);
    const build = stages.slice(0, -1).flat();
    expect(build).toContainEqual(expect.stringMatching(/^RUN .*npm ci\b/));
    expect(build).toContainEqual(expect.stringMatching(/^RUN .*npm run build\b/));

    const final = stages.at(-1) ?? [];
    expect(final).toContainEqual(expect.stringMatching(/^RUN .*npm ci\b.*--omit=dev/));
    expect(final.filter((l) => /^RUN .*npm (ci|install)\b/.test(l)).every((l) => l.includes('--omit=dev'))).toBe(true);
    expect(final).toContainEqual(expect.stringMatching(/^COPY --from=\S+ \S*dist\S* /));
    // Without the optional peers only the dev tree satisfies (typescript, through @bull-board/api → valibot).
    expect(final.filter((l) => /^RUN .*npm ci\b/.test(l)).every((l) => l.includes('--legacy-peer-deps'))).toBe(true);
    // One HEALTHCHECK for every service of the image: the script finds the container's own.
    const healthcheck = final.find((l) => /^HEALTHCHECK\s/i.test(l));
    expect(healthcheck, 'the final stage has a HEALTHCHECK').toBeDefined();
    const probe = JSON.parse(/\bCMD\s+(\[.*\])$/.exec(healthcheck ?? '')?.[1] ?? '[]') as string[];
    expect(probe[0]).toBe('node');
    expect(existsSync(resolve(ROOT, (probe[1] ?? '').replace(new RegExp(`^${imageWorkdir()}/`), ''))), `${probe[1] ?? ''} is in the build`).toBe(true);
    const user = final.filter((l) => /^USER\s/i.test(l)).at(-1);
    expect(user, 'the final stage sets a USER').toBeDefined();
    expect(user?.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
    const entrypoint = final.find((l) => /^ENTRYPOINT\s/i.test(l));
    expect(entrypoint).toBeDefined();
    const argv = JSON.parse(entrypoint?.replace(/^ENTRYPOINT\s+/i, '') ?? '[]') as string[];
    // The image's entry point is the CLI the end-to-end test below runs.
    const workdir = imageWorkdir();
    expect(argv[0]).toBe('node');
    expect(resolve(ROOT, (argv[1] ?? '').replace(new RegExp(`^${workdir}/`), ''))).toBe(CLI);

    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', 'test-artifacts']));
  });
});

describe('docker-compose.yml services as local processes', () => {
  it('scheduler, two workers and the board run the demo submitted by the demo service, then stop cleanly', async () => {
    const compose = loadCompose();
    const prefix = uniquePrefix('compose');
    prefixes.push(prefix);
    const boardPort = await freePort();
    const workdir = imageWorkdir();
    // Each named volume becomes one temporary directory shared by every process that mounts it.
    const volumeDirs = new Map<string, string>();
    const volumeDir = (name: string): string => {
      let dir = volumeDirs.get(name);
      if (dir === undefined) {
        dir = tempDir(`fg-compose-${name}`);
        dirs.push(dir);
        volumeDirs.set(name, dir);
      }
      return dir;
    };

    /** A service's command and environment, with the container-specific parts mapped to this machine. */
    const local = (name: string): { args: string[]; env: Record<string, string> } => {
      const svc = serviceOf(compose, name);
      const mounts = namedVolumes(svc).map(([volume, target]) => [target, volumeDir(volume)] as const);
      const mapPath = (value: string): string => {
        for (const [target, dir] of mounts) if (value === target || value.startsWith(`${target}/`)) return dir + value.slice(target.length);
        if (value.startsWith(`${workdir}/`)) return join(ROOT, value.slice(workdir.length + 1));
        return value;
      };
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(environmentOf(svc))) env[k] = mapPath(v);
      expect(env['REDIS_URL'], `${name}'s REDIS_URL`).toBe('redis://redis:6379');
      env['REDIS_URL'] = redisUrl();
      env['FLOWGATE_PREFIX'] = prefix;
      env['FLOWGATE_BOARD_PORT'] = String(boardPort);
      // Inside the container 0.0.0.0 is the container's own network; here it would be every interface.
      if (env['FLOWGATE_BOARD_HOST'] === '0.0.0.0') env['FLOWGATE_BOARD_HOST'] = '127.0.0.1';
      return { args: commandOf(svc).map(mapPath), env };
    };
    const start = (name: string): CliProcess => {
      const { args, env } = local(name);
      const p = startCli(args, { cwd: ROOT, env });
      started.push(p);
      return p;
    };

    // `docker compose up --scale worker=2`; the demo depends only on the scheduler having started.
    const scheduler = start('scheduler');
    const workers = [start('worker'), start('worker')];
    const board = start('board');
    const services: Array<[string, CliProcess]> = [['scheduler', scheduler], ['worker 1', workers[0] as CliProcess], ['worker 2', workers[1] as CliProcess], ['board', board]];
    const logs = (): string => services.map(([n, p]) => `--- ${n} (exit ${String(p.child.exitCode)}):\n${p.stderr().slice(-3000)}`).join('\n');

    const demo = local('demo');
    const res = await runCli([...demo.args, '--json'], { cwd: ROOT, env: demo.env, timeoutMs: 60_000 });
    expect(res.code, `submit: ${res.stderr}\n${logs()}`).toBe(0);
    const summary = JSON.parse(res.stdout) as RunSummary;
    const workflow = parse(readFileSync(join(ROOT, 'examples/demo.yaml'), 'utf8')) as { nodes: Array<{ id: string }> };
    expect(summary.status).toBe('succeeded');
    expect(summary.nodes.map((n) => n.id).sort()).toEqual(workflow.nodes.map((n) => n.id).sort());
    for (const n of summary.nodes) {
      expect(n.status, `node ${n.id}: ${n.reason ?? ''}`).toBe('succeeded');
      // Node directories are on the shared work volume.
      expect(n.node_dir.startsWith(volumeDir('work')), n.node_dir).toBe(true);
    }
    expect(existsSync(join(summary.nodes.find((n) => n.id === 'report')?.node_dir ?? '', 'report.txt'))).toBe(true);

    // The board answers its health check and lists the run as succeeded.
    const listening = await waitFor(() => /board listening on (http:\/\/\S+)/.exec(board.stderr())?.[1], 20_000, `the board to listen\n${logs()}`);
    expect(listening).toContain(`:${boardPort}`);
    const base = `http://127.0.0.1:${boardPort}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const listed = await waitFor(async () => {
      const r = await fetch(`${base}/api/runs`);
      if (!r.ok) throw new Error(`GET /api/runs: ${r.status}`);
      const body = (await r.json()) as unknown;
      const runs = (Array.isArray(body) ? body : ((body as { runs?: unknown[] }).runs ?? [])) as Array<{ run_id?: string; id?: string; status?: string }>;
      const run = runs.find((x) => (x.run_id ?? x.id) === summary.run_id);
      return run?.status === 'succeeded' ? run : undefined;
    }, 10_000, `the board to list run ${summary.run_id} as succeeded`);
    expect(listed.status).toBe('succeeded');

    // Each service's health check, run as Docker runs it in the container (same command and environment): healthy now.
    const probe = async (name: string): Promise<{ code: number | null; out: string }> => {
      const args = healthcheckArgs(serviceOf(compose, name));
      return new Promise((resolveProbe) => {
        execFile(process.execPath, [join(ROOT, 'dist', 'cli', 'healthcheck.js'), ...args], { env: { ...process.env, ...local(name).env }, timeout: 20_000 }, (err, stdout, stderr) =>
          resolveProbe({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, out: `${stdout}${stderr}` }),
        );
      });
    };
    for (const name of ['scheduler', 'worker', 'board']) {
      const r = await probe(name);
      expect(r.code, `${name}: ${r.out}`).toBe(0);
      expect(r.out).toMatch(/^healthy: /);
    }

    // `docker compose stop`: SIGTERM to every service; each exits 0 (idle workers at once).
    for (const [, p] of services) p.child.kill('SIGTERM');
    for (const [name, p] of services) {
      const exit = await exitWithin(p, 20_000, name);
      expect(exit.code, `${name}: ${exit.stderr.slice(-2000)}`).toBe(0);
    }
    // Stopped, each is unhealthy: no worker beats, no scheduler leads, the board does not answer.
    for (const name of ['scheduler', 'worker', 'board']) {
      const r = await probe(name);
      expect(r.code, `${name}: ${r.out}`).toBe(1);
      expect(r.out).toMatch(/^unhealthy: /);
    }
  });
});

describe('docker-compose.board-auth.yml as a local process', () => {
  needTool('docker-compose');
  it('the board reads its password from the secret: 401 without it, 200 with it; a missing secret file is exit 2', async () => {
    const cli = composeCli();
    const res = spawnSync(cli[0] as string, [...cli.slice(1), '-f', COMPOSE_FILE, '-f', AUTH_OVERLAY, 'config'], { encoding: 'utf8', timeout: 30_000, env: hostEnv() });
    expect(res.status, res.stderr).toBe(0);
    const board = serviceOf(parse(res.stdout) as ComposeFile, 'board');
    const prefix = uniquePrefix('composeauth');
    prefixes.push(prefix);
    const dir = tempDir('fg-compose-secret');
    dirs.push(dir);
    const secret = join(dir, 'board_password');
    const password = 'compose-secret-password';
    writeFileSync(secret, `${password}\n`);
    const env: Record<string, string> = { ...environmentOf(board), REDIS_URL: redisUrl(), FLOWGATE_PREFIX: prefix, FLOWGATE_BOARD_PORT: String(await freePort()), FLOWGATE_BOARD_PASSWORD_FILE: secret, FLOWGATE_WORK_DIR: dir };
    expect(environmentOf(board)['FLOWGATE_BOARD_PASSWORD_FILE']).toBe('/run/secrets/board_password');
    // Inside the container 0.0.0.0 is the container's own network; here it would be every interface.
    env['FLOWGATE_BOARD_HOST'] = '127.0.0.1';

    const missing = await runCli(commandOf(board), { cwd: ROOT, env: { ...env, FLOWGATE_BOARD_PASSWORD_FILE: join(dir, 'absent') } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('FLOWGATE_BOARD_PASSWORD_FILE');

    const p = startCli(commandOf(board), { cwd: ROOT, env });
    started.push(p);
    const base = await waitFor(() => {
      if (p.child.exitCode !== null) throw new Error(`board exited: ${p.stderr()}`);
      return /board listening on (http:\/\/\S+)/.exec(p.stderr())?.[1];
    }, 20_000, 'the board to listen');
    expect(p.stderr()).not.toContain('WARNING');
    expect(p.stderr()).not.toContain(password);
    expect((await fetch(`${base}/api/runs`)).status).toBe(401);
    expect((await fetch(`${base}/api/runs`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } })).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    p.child.kill('SIGTERM');
    expect((await exitWithin(p, 20_000, 'board')).code).toBe(0);
  });
});
