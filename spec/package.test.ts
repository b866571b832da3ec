/**
 * The built package works from another folder with both require() and import.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(__dirname, '..');

/** The public classes (exported by index.ts) whose emitted declarations must show the public API only. */
const PUBLIC_CLASSES = ['App', 'WebSocket', 'ReconnectingWebSocket'];
/** Internal members (roles of the library's own plumbing) that the declarations of those classes must not list. */
const INTERNAL_MEMBERS = ['flush', 'sweep', 'receive', 'socketData', 'onMessage', 'accept', 'addSocket', 'routeOf', 'sendPrebuilt', 'start', 'finish', 'counters', 'matchRoute', 'sessionDone', 'headLimits', 'http'];
/** Members each class must still declare: the lookup below works, and the README's API is there. */
const PUBLIC_MEMBERS: Record<string, string[]> = {
  App: ['websocket', 'get', 'listen', 'close', 'publish', 'numSubscribers', 'stats', 'getStats', 'prometheus', 'clients', 'connections', 'port', 'handleUpgrade'],
  WebSocket: ['send', 'sendText', 'send_text', 'sendBinary', 'send_binary', 'sendFirstFragment', 'sendFragment', 'sendLastFragment', 'ping', 'pong', 'cork', 'close', 'end', 'terminate', 'pause', 'resume', 'subscribe', 'unsubscribe', 'isSubscribed', 'getTopics', 'publish', 'on', 'off', 'once', 'closed', 'readyState', 'bufferedAmount', 'getBufferedAmount', 'getUserData', 'getRemoteAddress', 'data', 'params', 'query', 'url', 'protocol', 'extensions', 'remoteAddress', 'remotePort'],
  ReconnectingWebSocket: ['send', 'close', 'on', 'off', 'once', 'readyState', 'connection'],
};

/**
 * Every member name (public, protected or private, inherited ones included)
 * of the instances of the public classes, as a consumer's compiler sees them
 * in dist/index.d.ts.
 */
function declaredMembers(): Map<string, string[]> {
  const entry = join(root, 'dist', 'index.d.ts');
  const program = ts.createProgram([entry], { strict: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const out = new Map<string, string[]>();
  for (const exported of checker.getExportsOfModule(module)) {
    if (!PUBLIC_CLASSES.includes(exported.name)) continue;
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    out.set(exported.name, checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((p) => p.name));
  }
  return out;
}

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

  describe('the emitted declarations show the public API only (stripInternal)', () => {
    let members: Map<string, string[]>;
    beforeAll(() => {
      members = declaredMembers();
    });

    test.each(PUBLIC_CLASSES.flatMap((cls) => INTERNAL_MEMBERS.map((member) => [cls, member])))('%s has no %s', (cls, member) => {
      expect(members.get(cls)).toBeDefined();
      expect(members.get(cls)).not.toContain(member);
    });

    test.each(Object.entries(PUBLIC_MEMBERS))('%s still declares its public API', (cls, names) => {
      const got = members.get(cls) ?? [];
      expect(names.filter((n) => !got.includes(n))).toEqual([]);
    });

    test('a TypeScript user of the package type-checks against the declarations, and so does every emitted .d.ts (skipLibCheck off)', () => {
      writeFileSync(
        join(dir, 'server.ts'),
        [
          "import { App, WebSocket, SendStatus, connect, type AppBehavior } from 'xyra';",
          'const behavior: AppBehavior<{ user: string }> = {',
          "  upgrade: (req, res) => res.accept({ user: req.query.user ?? 'anon' }),",
          '  message: (ws: WebSocket<{ user: string }>, message) => { if (ws.send(message) === SendStatus.DROPPED) ws.close(1008); },',
          '};',
          "const app = new App().websocket('/ws', behavior);",
          'async function main(): Promise<void> {',
          "  const port: number = await app.listen(0, '127.0.0.1');",
          "  const ws = await connect(`ws://127.0.0.1:${port}/ws`);",
          "  ws.on('message', (m) => console.log(m, app.stats().connections, ws.getBufferedAmount()));",
          '  await app.close();',
          '}',
          'void main();',
          '',
        ].join('\n'),
      );
      const tsc = [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'commonjs', '--moduleResolution', 'node', '--target', 'es2022', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types')];
      // A member stripped as internal must not leave a declaration behind that no longer holds (an `implements`, an abstract member).
      const declarations = (readdirSync(join(root, 'dist'), { recursive: true }) as string[]).filter((f) => f.endsWith('.d.ts')).map((f) => join(root, 'dist', f));
      expect(declarations.length).toBeGreaterThan(50);
      let diagnostics = '';
      try {
        execFileSync(process.execPath, [...tsc, 'server.ts', ...declarations], { cwd: dir, stdio: 'pipe' });
      } catch (err) {
        diagnostics = String((err as { stdout: Buffer }).stdout);
      }
      expect(diagnostics).toBe('');
    }, 60000);
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
  test('import "xyra/browser" resolves to the ES module build of the browser client', () => {
    writeFileSync(
      join(dir, 'browser.mjs'),
      "import * as b from 'xyra/browser';\nconsole.log(typeof b.ReconnectingWebSocket, typeof b.connect, b.SendStatus.DROPPED, b.backoffCap(2, { minDelay: 10, maxDelay: 100, factor: 3 }));\n",
    );
    const out = execFileSync(process.execPath, [join(dir, 'browser.mjs')], { cwd: dir }).toString();
    expect(out.trim()).toBe('function function 2 30');
  });

  test('"xyra/browser" is typed: a page written in TypeScript (bundler resolution) type-checks against its .d.ts', () => {
    writeFileSync(
      join(dir, 'page.ts'),
      [
        "import { ReconnectingWebSocket, SendStatus, type DisconnectInfo } from 'xyra/browser';",
        "const ws = new ReconnectingWebSocket((attempt) => `/feed?since=${attempt}`, { reconnect: { maxQueue: 1024 } });",
        'const status: SendStatus = ws.send(new Uint8Array(4));',
        'ws.on("reconnecting", (attempt: number, delay: number, info: DisconnectInfo) => console.log(attempt, delay, info.code, status));',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'bad.ts'), "import { ReconnectingWebSocket } from 'xyra/browser';\nnew ReconnectingWebSocket('/ws').send({ not: 'data' });\n");
    const tsc = [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--module', 'esnext', '--moduleResolution', 'bundler', '--target', 'es2020', '--lib', 'es2020,dom'];
    execFileSync(process.execPath, [...tsc, 'page.ts'], { cwd: dir, stdio: 'pipe' });
    // And the types do say something: sending an object is an error.
    let diagnostics = '';
    try {
      execFileSync(process.execPath, [...tsc, 'bad.ts'], { cwd: dir, stdio: 'pipe' });
    } catch (err) {
      diagnostics = String((err as { stdout: Buffer }).stdout);
    }
    expect(diagnostics).toMatch(/bad\.ts\(2,\d+\): error TS23\d\d: .*BlobLike/);
  }, 60000);

  test('the built serveBrowserClient serves dist/browser/xyra-client.js', () => {
    writeFileSync(
      join(dir, 'serve.mjs'),
      `import { App, serveBrowserClient } from 'xyra';
const app = new App();
app.get('/xyra-client.js', serveBrowserClient);
const port = await app.listen(0, '127.0.0.1');
const res = await fetch('http://127.0.0.1:' + port + '/xyra-client.js');
process.stdout.write(res.status + ' ' + res.headers.get('content-type') + '\\n' + (await res.text()));
await app.close();
`,
    );
    const out = execFileSync(process.execPath, [join(dir, 'serve.mjs')], { cwd: dir, timeout: 20000 }).toString();
    const nl = out.indexOf('\n');
    expect(out.slice(0, nl)).toBe('200 text/javascript; charset=utf-8');
    expect(out.slice(nl + 1)).toBe(readFileSync(join(root, 'dist', 'browser', 'xyra-client.js'), 'utf8'));
  });
});
