/**
 * The built package works from another folder with both require() and import.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');

describe('package', () => {
  let dir: string;
  beforeAll(() => {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe' });
    dir = mkdtempSync(join(tmpdir(), 'xyra-consumer-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'xyra'), 'dir');
  }, 120000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('npm pack ships dist/index.js, dist/index.mjs and declarations; no source map without its source', () => {
    // Scripts are skipped: beforeAll just built dist/ (npm pack would run `prepare` again).
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
    for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/lib/app.d.ts', 'dist/lib/app.js', 'package.json', 'README.md']) {
      expect(files).toContain(f);
    }
    // A map points at ../lib/*.ts: shipped only if those sources ship too.
    const maps = files.filter((f) => f.endsWith('.map'));
    for (const m of maps) expect(files).toContain(m.replace(/^dist\//, '').replace(/\.(js|d\.ts)\.map$/, '.ts'));
    expect(files.filter((f) => /^(spec|bench|examples)\//.test(f) || f.startsWith('dist/spec/'))).toEqual([]);
  });

  test('a git or tarball install builds dist/ through the prepare script', () => {
    const pkg = require(join(root, 'package.json'));
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.files).toEqual(['dist']);
  });

  test('has no runtime dependencies', () => {
    const pkg = require(join(root, 'package.json'));
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
  });

  test('require("xyra") gives App, connect and OpCode', () => {
    const out = execFileSync(process.execPath, ['-e', "const x = require('xyra'); console.log(typeof x.App, typeof x.connect, x.OpCode.TEXT, x.OpCode.BINARY)"], { cwd: dir }).toString();
    expect(out.trim()).toBe('function function 1 2');
  });

  test('import { App } from "xyra" works and is the same class as require()', () => {
    writeFileSync(
      join(dir, 'check.mjs'),
      "import { App, connect, OpCode } from 'xyra';\nimport { createRequire } from 'node:module';\nconst req = createRequire(import.meta.url);\nconsole.log(typeof App, typeof connect, OpCode.CLOSE, App === req('xyra').App);\n",
    );
    const out = execFileSync(process.execPath, [join(dir, 'check.mjs')], { cwd: dir }).toString();
    expect(out.trim()).toBe('function function 8 true');
  });

  test('xyra/redis loads with require() and import, lazily: neither the core nor the entry point loads a Redis package', () => {
    const loaded = "Object.keys(require.cache).filter((k) => /[\\\\/](lib[\\\\/]redis|node_modules[\\\\/](redis|ioredis|@redis))[\\\\/]/.test(k)).length";
    const out = execFileSync(process.execPath, ['-e', `require('xyra'); const core = ${loaded}; const r = require('xyra/redis'); console.log(core, ${loaded} > 0, typeof r.RedisBus, r.BusError === require('xyra').BusError, Object.keys(require.cache).some((k) => /node_modules[\\\\/](redis|ioredis|@redis)[\\\\/]/.test(k)))`], { cwd: dir }).toString();
    expect(out.trim()).toBe('0 true function true false');
    writeFileSync(
      join(dir, 'redis.mjs'),
      "import { RedisBus, BusError } from 'xyra/redis';\nimport { createRequire } from 'node:module';\nconst req = createRequire(import.meta.url);\nconsole.log(typeof RedisBus, RedisBus === req('xyra/redis').RedisBus, typeof BusError);\n",
    );
    const esm = execFileSync(process.execPath, [join(dir, 'redis.mjs')], { cwd: dir }).toString();
    expect(esm.trim()).toBe('function true function');
  });

  test('a server and client from the built package talk', () => {
    writeFileSync(
      join(dir, 'talk.mjs'),
      `import { App, connect } from 'xyra';
const app = new App();
app.websocket('/ws', { message(ws, m) { ws.send('echo:' + m); } });
const port = await app.listen(0, '127.0.0.1');
const ws = await connect('ws://127.0.0.1:' + port + '/ws');
const got = await new Promise((r) => { ws.on('message', r); ws.send('hi'); });
console.log(got);
ws.close();
await app.close();
`,
    );
    const out = execFileSync(process.execPath, [join(dir, 'talk.mjs')], { cwd: dir, timeout: 20000 }).toString();
    expect(out.trim()).toBe('echo:hi');
  });
});
