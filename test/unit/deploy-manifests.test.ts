/**
 * deploy/swarm/stack.yml and deploy/k8s/*.yaml, checked statically against
 * the code: every container of the flowgate image runs a real subcommand
 * whose arguments the CLI's own parser accepts, its flowgate variables are
 * ones that command reads and their values pass the same validation, every
 * `$(VAR)`, secret, volume and claim it names exists, the shared work dir is
 * one ReadWriteMany volume at FLOWGATE_WORK_DIR everywhere, and the image is
 * the project's, tagged as docker-compose.yml tags it (never `latest`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { COMMAND_INFO } from '../../src/cli/commands.js';
import { Flags, parseArgs, type FlagSpec } from '../../src/cli/args.js';
import { envSettings } from '../../src/cli/env-flags.js';
import { withEnv } from '../../src/cli/settings.js';
import { boardSettings } from '../../src/board/config.js';
import { parseCapacity } from '../../src/shared/host-capacity.js';
import { redisUrlProblem } from '../../src/shared/config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const K8S = join(ROOT, 'deploy/k8s');
const STACK = join(ROOT, 'deploy/swarm/stack.yml');

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** Variables flowgate reads for every command (the connection), from the code that reads them. */
const CONNECTION_VARS = new Set([...readFileSync(join(ROOT, 'src/shared/config.ts'), 'utf8').matchAll(/'((?:REDIS|FLOWGATE)_[A-Z_]+)'/g)].map((m) => m[1] as string));
/** The board's own variables, from the code that reads them. */
const BOARD_VARS = new Set([...readFileSync(join(ROOT, 'src/board/config.ts'), 'utf8').matchAll(/\b(FLOWGATE_BOARD_[A-Z_]+)\b/g)].map((m) => m[1] as string));

/** The image's tag in docker-compose.yml, its variables at their defaults. */
const COMPOSE_IMAGE = withDefaults(str(obj(parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true })['x-flowgate'])['image']));

/** Compose interpolation with nothing set: `${V:-d}` gives d, `${V:?msg}` a sample value, `$$` a "$". */
function withDefaults(text: string): string {
  const out = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (match, name: string, op?: string, rest?: string) => {
    if (match === '$$') return '\u0000';
    if (op === undefined) throw new Error(`\${${name}} has no default: give one (\${${name}:-...}) or a message (\${${name}:?...})`);
    if (op.endsWith('?')) {
      expect(rest, `\${${name}:?...} says what to set`).toMatch(/\w+ \w+/);
      return 'required.example';
    }
    return rest ?? '';
  });
  return out.replaceAll('\u0000', '$');
}

/** What a container runs, as the checks see it. */
interface Container {
  where: string;
  image: string;
  /** Arguments after the entrypoint: the subcommand first. */
  args: string[];
  /** Variables with sample values (secrets, the downward API and templates filled in). */
  env: Record<string, string>;
  /** Variables some argument or other variable refers to as `$(NAME)`. */
  referenced: Set<string>;
  /** Mount path -> what is mounted: `secret:<name>:<file>...`, `claim:<name>`, `volume:<name>`. */
  mounts: Map<string, string[]>;
}

const commands = new Map(COMMAND_INFO.map((c) => [c.name, c]));

/** Checks one container of the flowgate image against the code; returns its subcommand. */
async function checkContainer(c: Container): Promise<string> {
  const [sub, ...rest] = c.args;
  const info = commands.get(sub ?? '');
  expect(info, `${c.where}: "${sub ?? ''}" is a flowgate subcommand`).toBeDefined();
  const specs: readonly FlagSpec[] = await (info as NonNullable<typeof info>).flags();
  let flags: Flags;
  try {
    flags = new Flags(parseArgs(rest, specs));
  } catch (err) {
    throw new Error(`${c.where}: flowgate ${sub ?? ''} refuses its arguments ${JSON.stringify(rest)}: ${String(err)}`);
  }
  expect(flags.positionals, `${c.where}: no positional arguments`).toEqual([]);
  const settings = info?.env === true ? envSettings(specs) : [];
  const allowed = new Set([...CONNECTION_VARS, ...settings.map((s) => s.env), ...(sub === 'board' ? BOARD_VARS : []), ...c.referenced]);
  for (const name of Object.keys(c.env)) expect(allowed.has(name), `${c.where}: ${name} is read by flowgate ${sub ?? ''} (or used as $(${name}))`).toBe(true);
  // The values pass the command's own validation.
  expect(() => withEnv(flags, settings, c.env), `${c.where}: the variables' values`).not.toThrow();
  const capacity = flags.str('capacity') ?? c.env['FLOWGATE_CAPACITY'];
  if (capacity !== undefined && capacity !== '') expect(() => parseCapacity(capacity), `${c.where}: --capacity ${capacity}`).not.toThrow();
  if (sub === 'board') expect(boardSettings({}, c.env, () => 'a-password-of-24-chars!!').issues, `${c.where}: board settings`).toEqual([]);
  // Files named by variables are mounted secrets holding that file.
  for (const name of ['REDIS_URL_FILE', 'FLOWGATE_BOARD_PASSWORD_FILE']) {
    const path = c.env[name];
    if (path === undefined) continue;
    const mounted = c.mounts.get(posix.dirname(path)) ?? [];
    expect(mounted.some((m) => m.startsWith('secret:') && m.split(':').slice(2).includes(posix.basename(path))), `${c.where}: ${name}=${path} is a mounted secret file`).toBe(true);
  }
  expect(c.env['REDIS_URL'], `${c.where}: the Redis URL (with its password) comes from REDIS_URL_FILE, not the environment`).toBeUndefined();
  expect(c.env['REDIS_URL_FILE'], `${c.where}: REDIS_URL_FILE`).toBeDefined();
  // The shared work dir, at the same path everywhere: the scheduler's work dir, where the workers run nodes and the board reads logs.
  if (sub === 'scheduler') expect(c.env['FLOWGATE_WORK_DIR'], `${c.where}: FLOWGATE_WORK_DIR`).toBe('/work');
  expect(c.mounts.get('/work'), `${c.where}: the shared work volume at /work`).toBeDefined();
  // The project image, tagged as the compose file tags it.
  expect(c.image, `${c.where}: image`).toBe(COMPOSE_IMAGE);
  expect(c.image.split(':')[1]).not.toBe('latest');
  return sub as string;
}

describe('deploy/k8s', () => {
  const kustomization = obj(parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')));
  const docs = list(kustomization['resources']).flatMap((file) => {
    const path = join(K8S, str(file));
    expect(existsSync(path), `kustomization resource ${str(file)}`).toBe(true);
    return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => ({ file: str(file), doc: obj(d.toJS()) }));
  });
  const named = (kind: string): Map<string, Obj> => new Map(docs.filter((d) => d.doc['kind'] === kind).map((d) => [str(obj(d.doc['metadata'])['name']), d.doc]));
  /** Secret name -> its keys, from the generator (files or literals). */
  const secrets = new Map(
    list(kustomization['secretGenerator']).map((g) => [str(obj(g)['name']), [...list(obj(g)['files']), ...list(obj(g)['literals'])].map((f) => str(f).split('=')[0] as string)]),
  );
  const claims = named('PersistentVolumeClaim');
  const images = list(kustomization['images']).map(obj);

  it('keeps the secret files out of git and names the project image with a pinned tag', () => {
    for (const g of list(kustomization['secretGenerator'])) {
      for (const f of list(obj(g)['files'])) expect(dirname(str(f).split('=')[1] ?? ''), `secret file ${str(f)}`).toBe('secrets');
    }
    expect(readFileSync(join(K8S, 'secrets/.gitignore'), 'utf8').split('\n')).toContain('*');
    expect(images).toEqual([{ name: COMPOSE_IMAGE.split(':')[0], newTag: COMPOSE_IMAGE.split(':')[1] }]);
    expect(kustomization['namespace']).toBe(str(obj(named('Namespace').values().next().value?.['metadata'])['name']));
  });

  it('runs real flowgate commands with real flags, variables, secrets and volumes; one scheduler; a worker per node named after it; the board behind a Service', async () => {
    const workloads = docs.filter((d) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(str(d.doc['kind'])));
    const seen = new Map<string, { kind: string; doc: Obj; labels: Obj; ports: string[] }>();
    for (const { file, doc } of workloads) {
      const template = obj(obj(doc['spec'])['template']);
      const pod = obj(template['spec']);
      const volumes = new Map(list(pod['volumes']).map((v) => [str(obj(v)['name']), obj(v)]));
      const used = new Set<string>();
      for (const raw of list(pod['containers'])) {
        const ct = obj(raw);
        const where = `${file} ${str(doc['kind'])}/${str(obj(doc['metadata'])['name'])} container ${str(ct['name'])}`;
        const mounts = new Map<string, string[]>();
        for (const m of list(ct['volumeMounts']).map(obj)) {
          const name = str(m['name']);
          used.add(name);
          const template = list(obj(doc['spec'])['volumeClaimTemplates']).some((t) => str(obj(obj(t)['metadata'])['name']) === name);
          const v = volumes.get(name);
          expect(v !== undefined || template, `${where}: volume ${name} is defined`).toBe(true);
          if (v === undefined) continue;
          const secret = obj(v['secret']);
          const claim = obj(v['persistentVolumeClaim']);
          if (v['secret'] !== undefined) {
            const keys = secrets.get(str(secret['secretName']));
            expect(keys, `${where}: secret ${str(secret['secretName'])} is generated`).toBeDefined();
            for (const item of list(secret['items']).map(obj)) expect(keys, `${where}: key ${str(item['key'])}`).toContain(str(item['key']));
            const files = secret['items'] === undefined ? (keys ?? []) : list(secret['items']).map((i) => str(obj(i)['path']));
            mounts.set(str(m['mountPath']), [`secret:${str(secret['secretName'])}:${files.join(':')}`]);
          } else if (v['persistentVolumeClaim'] !== undefined) {
            const pvc = claims.get(str(claim['claimName']));
            expect(pvc, `${where}: claim ${str(claim['claimName'])} is defined`).toBeDefined();
            mounts.set(str(m['mountPath']), [`claim:${str(claim['claimName'])}`]);
          }
        }
        const image = str(ct['image']);
        if (image.split(':')[0] !== COMPOSE_IMAGE.split(':')[0]) continue;
        expect(ct['command'], `${where}: keeps the image's entrypoint (node dist/cli/main.js)`).toBeUndefined();
        // Variables in order, `$(NAME)` of an earlier one expanded as Kubernetes does.
        const env: Record<string, string> = {};
        const referenced = new Set<string>();
        const expand = (text: string, what: string): string =>
          text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) => {
            if (match === '$$') return '$';
            expect(env[name as string], `${where}: ${what} refers to $(${name ?? ''}), defined before it`).toBeDefined();
            referenced.add(name as string);
            return env[name as string] as string;
          });
        const limits = obj(obj(ct['resources'])['limits']);
        for (const e of list(ct['env']).map(obj)) {
          const name = str(e['name']);
          const from = obj(e['valueFrom']);
          if (e['value'] !== undefined) env[name] = expand(str(e['value']), name);
          else if (from['fieldRef'] !== undefined) {
            const path = str(obj(from['fieldRef'])['fieldPath']);
            expect(['spec.nodeName', 'metadata.name', 'metadata.namespace'], `${where}: ${name} fieldPath`).toContain(path);
            env[name] = path === 'spec.nodeName' ? 'node-1' : 'pod-1';
          } else if (from['resourceFieldRef'] !== undefined) {
            const r = obj(from['resourceFieldRef']);
            const limit = str(limits[str(r['resource']).replace(/^limits\./, '')]);
            expect(limit, `${where}: ${name} reads ${str(r['resource'])}, which the container sets`).not.toBe('');
            const gi = (q: string): number => Number(q.replace(/Gi$/, '')) * (q.endsWith('Gi') ? 1 : 1 / 2 ** 30);
            env[name] = String(str(r['resource']) === 'limits.memory' ? Math.ceil(gi(limit) / gi(str(r['divisor']) || '1')) : Math.ceil(Number(limit)));
          } else if (from['secretKeyRef'] !== undefined) {
            const ref = obj(from['secretKeyRef']);
            expect(secrets.get(str(ref['name'])), `${where}: ${name} from secret ${str(ref['name'])}`).toContain(str(ref['key']));
            env[name] = 'secret';
          } else throw new Error(`${where}: ${name} has neither a value nor a supported valueFrom`);
        }
        const args = list(ct['args']).map((a) => expand(str(a), 'args'));
        const sub = await checkContainer({ where, image, args, env, referenced, mounts });
        for (const probe of ['livenessProbe', 'readinessProbe']) {
          const cmd = list(obj(obj(ct[probe])['exec'])['command']).map(str);
          if (cmd.length > 0) expect(cmd, `${where}: ${probe} checks its own service`).toEqual(['node', '/app/dist/cli/healthcheck.js', sub]);
        }
        for (const pvc of mounts.get('/work') ?? []) expect(list(obj(claims.get(pvc.replace(/^claim:/, ''))?.['spec'])['accessModes']), `${where}: the work dir is ReadWriteMany`).toContain('ReadWriteMany');
        seen.set(sub, { kind: str(doc['kind']), doc, labels: obj(obj(template['metadata'])['labels']), ports: list(ct['ports']).map((p) => str(obj(p)['name'])) });
        if (sub === 'worker') expect(env['FLOWGATE_HOST_ID'], `${where}: --host-id is the node name`).toBe('node-1');
      }
      for (const name of volumes.keys()) expect(used.has(name), `${file}: volume ${name} is mounted`).toBe(true);
      // Selectors match the pod template.
      expect(obj(template['metadata'])['labels'], `${file}: selector`).toMatchObject(obj(obj(obj(doc['spec'])['selector'])['matchLabels']));
    }
    expect([...seen.keys()].sort()).toEqual(['board', 'scheduler', 'worker']);
    expect(seen.get('scheduler')?.kind).toBe('Deployment');
    expect(obj(seen.get('scheduler')?.doc['spec'])['replicas']).toBe(1);
    expect(['DaemonSet', 'Deployment']).toContain(seen.get('worker')?.kind);
    // Every Service selects pods that exist, on a port they name.
    const services = [...named('Service').values()];
    const boardService = services.find((s) => Object.entries(obj(obj(s['spec'])['selector'])).every(([k, v]) => seen.get('board')?.labels[k] === v));
    expect(boardService, 'a Service selects the board').toBeDefined();
    expect(list(obj(boardService?.['spec'])['ports']).map((p) => str(obj(p)['targetPort']))).toEqual(seen.get('board')?.ports);
    for (const s of services) {
      const selector = obj(obj(s['spec'])['selector']);
      const pods = workloads.filter((w) => Object.entries(selector).every(([k, v]) => obj(obj(obj(obj(w.doc['spec'])['template'])['metadata'])['labels'])[k] === v));
      expect(pods.length, `Service ${str(obj(s['metadata'])['name'])} selects a workload`).toBe(1);
    }
    // The Redis URL the README and kustomization.yaml tell to write names that Service.
    const example = /printf 'redis:\/\/:%s@([a-z0-9-]+):6379/.exec(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'));
    expect(named('Service').has(example?.[1] ?? ''), 'the documented Redis URL names the Redis Service').toBe(true);
    expect(redisUrlProblem(`redis://:pw@${example?.[1] ?? ''}:6379`)).toBeUndefined();
  });
});

describe('deploy/swarm/stack.yml', () => {
  const stack = obj(parse(readFileSync(STACK, 'utf8'), { merge: true }));
  const services = obj(stack['services']);
  const topSecrets = obj(stack['secrets']);
  const topVolumes = obj(stack['volumes']);
  const networks = obj(stack['networks']);

  it('runs real flowgate commands with real flags, variables, secrets and volumes; one scheduler; a worker per node named after it', async () => {
    const seen = new Map<string, Obj>();
    for (const [name, raw] of Object.entries(services)) {
      const svc = obj(raw);
      const where = `stack.yml service ${name}`;
      for (const n of list(svc['networks'])) expect(networks[str(n)], `${where}: network ${str(n)}`).toBeDefined();
      const secrets = list(svc['secrets']).map((s) => (typeof s === 'string' ? s : str(obj(s)['source'])));
      for (const s of secrets) expect(topSecrets[s], `${where}: secret ${s}`).toBeDefined();
      const mounts = new Map<string, string[]>(secrets.map((s) => [`/run/secrets/${s}`, [`secret:${s}:`]]));
      // Docker mounts each secret as the file /run/secrets/<name>.
      mounts.set('/run/secrets', secrets.map((s) => `secret:${s}:${s}`));
      for (const v of list(svc['volumes']).map(str)) {
        const [source, target] = v.split(':') as [string, string];
        expect(topVolumes, `${where}: volume ${source}`).toHaveProperty(source);
        mounts.set(target, [`volume:${source}`]);
      }
      const image = withDefaults(str(svc['image']));
      if (image.split(':')[0] !== COMPOSE_IMAGE.split(':')[0]) continue;
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(obj(svc['environment']))) env[k] = withDefaults(str(v)).replace('{{.Node.Hostname}}', 'node-1');
      const args = list(svc['command']).map((a) => withDefaults(str(a)));
      const sub = await checkContainer({ where, image, args, env, referenced: new Set(), mounts });
      expect(list(obj(svc['healthcheck'])['test']), `${where}: health check`).toEqual(['CMD', 'node', '/app/dist/cli/healthcheck.js', sub]);
      seen.set(sub, svc);
    }
    expect([...seen.keys()].sort()).toEqual(['board', 'scheduler', 'worker']);
    expect(obj(seen.get('scheduler')?.['deploy'])['replicas']).toBe(1);
    const worker = obj(seen.get('worker'));
    expect(obj(worker['deploy'])['mode']).toBe('global');
    expect(obj(worker['environment'])['FLOWGATE_HOST_ID']).toBe('{{.Node.Hostname}}');
    // The worker requeues its running nodes before Docker kills it.
    expect(Number(withDefaults(str(obj(worker['environment'])['FLOWGATE_SHUTDOWN_DEADLINE_MS'])))).toBeLessThan(Number(/^(\d+)m$/.exec(str(worker['stop_grace_period']))?.[1]) * 60_000);
    // The work volume is shared storage, the same on every node.
    expect(obj(obj(topVolumes['work'])['driver_opts'])['type']).toBe('nfs');
    for (const s of Object.values(topSecrets)) expect(obj(s)['external'], 'secrets are made with docker secret create, not files in the repository').toBe(true);
  });
});
