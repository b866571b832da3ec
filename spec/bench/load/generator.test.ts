import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { LoadGenerator } from '../../../bench/load/generator';

// One forked worker against an in-process ws server: short windows, few connections.
describe('LoadGenerator against ws', () => {
  let wss: WebSocketServer;
  let url: string;
  let gen: LoadGenerator;

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
    });
    await new Promise((r) => wss.once('listening', r));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
    gen = new LoadGenerator(1);
  });

  afterAll(async () => {
    await gen.close();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  });

  it('echo counts replies and reports CPU', async () => {
    const r = await gen.run({ url, mode: 'echo', connections: 4, inflight: 4, size: 200, binary: true, duration: 0.3, warmup: 0.1 });
    expect(r.errors).toBe(0);
    expect(r.messages).toBeGreaterThan(10); // a working loop, not a speed claim (CI may be loaded)
    expect(r.mbPerSec).toBeCloseTo((r.msgPerSec * 200) / 1e6, 1);
    expect(r.workerCpu).toHaveLength(1);
    expect(r.workerCpu[0]).toBeGreaterThan(0);
  });

  it('latency yields ordered percentiles', async () => {
    const r = await gen.run({ url, mode: 'latency', connections: 2, duration: 0.3, warmup: 0.1 });
    expect(r.errors).toBe(0);
    expect(r.p50Us).toBeGreaterThan(0);
    expect(r.p99Us!).toBeGreaterThanOrEqual(r.p50Us!);
  });

  it('churn completes close handshakes', async () => {
    const r = await gen.run({ url, mode: 'churn', connections: 2, duration: 0.3, warmup: 0.1 });
    expect(r.errors).toBe(0);
    expect(r.handshakesPerSec).toBeGreaterThan(10);
  });

  it('idle holds connections until released', async () => {
    await gen.openIdle({ url, mode: 'idle', connections: 20 });
    expect(wss.clients.size).toBe(20);
    await gen.releaseIdle();
  });

  it('a refused upgrade is an error, not a result', async () => {
    const http = await import('node:http');
    const srv = http.createServer((_q, s) => s.writeHead(403).end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const bad = `ws://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
    await expect(gen.run({ url: bad, mode: 'echo', connections: 2, duration: 0.2 })).rejects.toThrow(/upgrade refused: HTTP\/1.1 403/);
    await new Promise((r) => srv.close(r));
  });
});

// permessage-deflate and fan-out against ws: the generator must really negotiate and compress.
describe('LoadGenerator deflate and fan-out against ws', () => {
  let wss: WebSocketServer;
  let port: number;
  let gen: LoadGenerator;
  let received = 0;
  let compressedIn = 0;

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
    wss.on('connection', (ws, req) => {
      ws.on('error', () => {});
      const exts = (req.headers['sec-websocket-extensions'] ?? '') as string;
      if (exts.includes('permessage-deflate')) compressedIn++;
      if (req.url === '/sub') (ws as unknown as { sub: boolean }).sub = true;
      ws.on('message', (d, isBinary) => {
        received++;
        if (req.url === '/pub') {
          for (const c of wss.clients) if ((c as unknown as { sub?: boolean }).sub) c.send(d, { binary: isBinary, compress: false });
        } else ws.send(d, { binary: isBinary });
      });
    });
    await new Promise((r) => wss.once('listening', r));
    port = (wss.address() as AddressInfo).port;
    gen = new LoadGenerator(1);
  });

  afterAll(async () => {
    await gen.close();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  });

  it('deflate echo: ws inflates every message and the compressed replies are counted', async () => {
    received = 0;
    const r = await gen.run({ url: `ws://127.0.0.1:${port}/`, mode: 'echo', connections: 3, inflight: 4, size: 1024, payload: 'json', deflate: true, duration: 0.3, warmup: 0.1 });
    expect(r.errors).toBe(0);
    expect(r.messages).toBeGreaterThan(5); // a working loop, not a speed claim
    expect(received).toBeGreaterThanOrEqual(r.messages);
  });

  it('deflate refuses a server that does not compress its replies', async () => {
    // Negotiates permessage-deflate but answers uncompressed (ws ignores its threshold under context takeover).
    const plain = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    plain.on('connection', (ws) => ws.on('message', (d) => ws.send(d, { compress: false })));
    await new Promise((r) => plain.once('listening', r));
    const url = `ws://127.0.0.1:${(plain.address() as AddressInfo).port}/`;
    const r = await gen.run({ url, mode: 'echo', connections: 1, inflight: 1, size: 64, payload: 'json', deflate: true, duration: 0.2, warmup: 0.05 });
    expect(r.firstError).toBe('reply not compressed (RSV1 clear)');
    for (const c of plain.clients) c.terminate();
    await new Promise((res) => plain.close(res));
  });

  it('idle with prime: every connection made a round trip before openIdle resolves', async () => {
    compressedIn = 0;
    received = 0;
    await gen.openIdle({ url: `ws://127.0.0.1:${port}/`, mode: 'idle', connections: 10, deflate: true, prime: true, payload: 'json', size: 1024 });
    expect(compressedIn).toBe(10);
    expect(received).toBe(10);
    await gen.releaseIdle();
  });

  it('fan-out counts deliveries on every subscriber', async () => {
    const r = await gen.run({ url: `ws://127.0.0.1:${port}/sub`, mode: 'fanout', connections: 20, inflight: 4, size: 64, binary: true, duration: 0.3, warmup: 0.1, pubPath: '/pub' });
    expect(r.errors).toBe(0);
    expect(r.messages).toBeGreaterThan(20 * 10);
  });
});
