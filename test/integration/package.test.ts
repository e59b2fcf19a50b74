/**
 * The published package as someone else gets it: `npm pack` of the built
 * tree (no scripts) holds dist, the launcher's source, README and licence and
 * nothing else; unpacked into a consumer project it loads with `import` and
 * with `require`, and its types resolve under moduleResolution node16,
 * nodenext and bundler (the repo's own tsc, strict). The Docker image's
 * production install (its own `npm ci` line) leaves TypeScript out and still
 * runs the CLI and TypeScript function nodes' loader.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function sh(cmd: string, args: readonly string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the npm package', () => {
  let files: string[] = [];
  let consumer = '';

  beforeAll(() => {
    const dest = tempDir('fg-pack');
    const packed = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], ROOT);
    expect(packed.status, packed.out).toBe(0);
    const info = JSON.parse(packed.out.slice(packed.out.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = info[0]?.files.map((f) => f.path) ?? [];
    // A consumer project: the tarball unpacked as node_modules/flowgate, its
    // dependencies (and @types/node) taken from this repo's node_modules.
    consumer = tempDir('fg-consumer');
    const modules = join(consumer, 'node_modules');
    mkdirSync(join(modules, 'flowgate'), { recursive: true });
    const untar = sh('tar', ['-xzf', join(dest, info[0]?.filename ?? ''), '-C', join(modules, 'flowgate'), '--strip-components=1'], consumer);
    expect(untar.status, untar.out).toBe(0);
    for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
      if (entry === 'flowgate' || entry.startsWith('.')) continue;
      symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
    }
  }, 120_000);

  it('holds dist, the launcher source, README, LICENSE and package.json; no tests, benches, CI, maps or prebuilt launcher', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/worker/launcher/flowgate-launcher.c', 'dist/shared/lua']) {
      expect(files.some((p) => p === f || p.startsWith(`${f}/`)), f).toBe(true);
    }
    const unwanted = files.filter((p) => /^(test|bench|\.ci|src|scripts|docs|node_modules)\//.test(p) || p.endsWith('.map') || p === 'dist/worker/flowgate-launcher' || /^(Dockerfile|docker-compose|tsconfig|vitest|eslint)/.test(p) || p.includes('flowgate-work/'));
    expect(unwanted).toEqual([]);
    expect(files.length).toBeLessThan(500);
  });

  it('loads with import and with require, the same module either way', () => {
    writeFileSync(join(consumer, 'esm.mjs'), "import { run, workflow, FlowgateError } from 'flowgate';\nconsole.log(typeof run, typeof workflow, typeof FlowgateError);\n");
    const esm = sh(process.execPath, ['esm.mjs'], consumer);
    expect(esm.out.trim()).toBe('function function function');
    writeFileSync(join(consumer, 'cjs.cjs'), "const flowgate = require('flowgate');\nimport('flowgate').then((m) => console.log(typeof flowgate.run, m.run === flowgate.run));\n");
    const cjs = sh(process.execPath, ['cjs.cjs'], consumer);
    expect(cjs.out.trim()).toBe('function true');
  });

  describe.each([
    ['node16', 'node16', 'module'],
    ['nodenext', 'nodenext', 'module'],
    ['bundler', 'esnext', 'module'],
    ['nodenext', 'nodenext', 'commonjs'],
  ])('types with moduleResolution %s (module %s, a %s project)', (resolution, module, type) => {
    it('type-check a consumer, and a wrong call is caught', () => {
      const dir = join(consumer, `ts-${resolution}-${type}`);
      mkdirSync(dir);
      symlinkSync(join(consumer, 'node_modules'), join(dir, 'node_modules'));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }));
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { module, moduleResolution: resolution, target: 'ES2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: true, exactOptionalPropertyTypes: true } }),
      );
      const source = type === 'module'
        ? "import { run, workflow, type RunSummary } from 'flowgate';\n"
        : "import flowgate = require('flowgate');\nconst { run, workflow } = flowgate;\ntype RunSummary = flowgate.RunSummary;\n";
      writeFileSync(
        join(dir, 'main.ts'),
        `${source}const wf = workflow('consumer');\nwf.node('a', { command: ['true'], n_procs: 1 });\nexport const done: Promise<RunSummary> = run(wf, { n_procs: 1, memory_gb: 1 });\n// @ts-expect-error n_procs is a number\nvoid run(wf, { n_procs: 'two' });\n`,
      );
      const res = sh(process.execPath, [TSC, '-p', dir], dir);
      expect(res.out).toBe('');
      expect(res.status).toBe(0);
    });
  });
});

describe('the production install of the Docker image', () => {
  it("its npm ci line installs no typescript, and the built CLI runs on what it installs", () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
    const stages = dockerfile.split(/^FROM\s/m);
    const line = /^RUN (npm ci [^&\n]*)/m.exec(stages.at(-1) ?? '')?.[1];
    expect(line, 'the runtime stage runs npm ci').toBeDefined();
    const args = (line ?? '').trim().split(/\s+/).slice(1);
    const dir = tempDir('fg-prod-install');
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(dir, f));
    const install = sh('npm', [...args, '--prefer-offline'], dir);
    expect(install.status, install.out).toBe(0);
    expect(existsSync(join(dir, 'node_modules', 'typescript')), 'typescript is not installed').toBe(false);
    for (const dep of ['tsx', 'bullmq', '@bull-board/api', 'valibot']) expect(existsSync(join(dir, 'node_modules', dep)), dep).toBe(true);
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    const version = sh(process.execPath, ['dist/cli/main.js', 'version'], dir);
    expect(version.out.trim()).toMatch(/^flowgate \d+\.\d+\.\d+$/);
    // The board's modules (bull-board, valibot) and tsx's loader load without typescript.
    const load = sh(process.execPath, ['--input-type=module', '-e', "await import('./dist/board/app.js'); await import('tsx/esm/api'); console.log('loaded')"], dir);
    expect(load.out.trim()).toBe('loaded');
  }, 180_000);
});
