/**
 * Interop with undici's WebSocket (the WHATWG client built into Node, behind
 * --experimental-websocket on Node 20), run in a child process against
 * Xyra's server: text, binary, a 1 MB message, subprotocol, close code.
 */
import { spawn } from 'node:child_process';
import { App } from '../../lib/app';
import type { WebSocket } from '../../lib/websocket';
import type { OpCode } from '../../frame/opcode';

const CLIENT = `
const url = process.argv[1];
const ws = new WebSocket(url, ['chat.v1']);
ws.binaryType = 'arraybuffer';
const out = { messages: [] };
ws.onopen = () => {
  out.protocol = ws.protocol;
  ws.send('hello ✓');
  ws.send(new Uint8Array([1, 2, 3]));
  ws.send('y'.repeat(1000000));
};
ws.onmessage = (e) => {
  const d = e.data;
  out.messages.push(typeof d === 'string' ? (d.length > 100 ? d.length : d) : Array.from(new Uint8Array(d)));
  if (out.messages.length === 3) ws.close(4002, 'done');
};
ws.onclose = (e) => {
  out.close = [e.code, e.wasClean];
  console.log(JSON.stringify(out));
};
ws.onerror = (e) => { console.error('error', e.message); };
`;

test('undici WebSocket client against Xyra server', async () => {
  const closes: number[] = [];
  const app = new App({ onError: () => {} });
  app.websocket('/echo', {
    upgrade: (req, res) => res.accept(undefined, req.protocols.includes('chat.v1') ? 'chat.v1' : undefined),
    message: (ws: WebSocket, m: string | Buffer, op: OpCode) => ws.send(m, op),
    close: (_ws: WebSocket, c: number) => closes.push(c),
  });
  const port = await app.listen(0, '127.0.0.1');
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', '-e', CLIENT, `ws://127.0.0.1:${port}/echo`]);
      let s = '';
      let e = '';
      child.stdout.on('data', (d) => (s += d));
      child.stderr.on('data', (d) => (e += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0 && s) resolve(s);
        else reject(new Error(`undici client failed (${code}): ${e}`));
      });
    });
    expect(JSON.parse(out)).toEqual({
      protocol: 'chat.v1',
      messages: ['hello ✓', [1, 2, 3], 1000000],
      close: [4002, true],
    });
    expect(closes).toEqual([4002]);
  } finally {
    await app.close();
  }
}, 30000);
