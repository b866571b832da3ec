import WsClient from 'ws';
import { OpCode } from '../../index';
import { createSendingDataApp } from '../../examples/sending-data';
import { Harness } from './helpers';

describe('examples/sending-data (Mengirim Data)', () => {
  const h = new Harness();
  beforeEach(() => h.start(createSendingDataApp()));
  afterEach(() => h.closeAll());

  test('the four sends arrive in order with their types', async () => {
    const c = await h.connect('/ws');
    const got = [await c.next(), await c.next(), await c.next(), await c.next()];
    expect(got).toEqual([
      { data: 'Hello World', opcode: OpCode.TEXT },
      { data: 'Text message', opcode: OpCode.TEXT },
      { data: Buffer.from('Binary data'), opcode: OpCode.BINARY },
      { data: 'Data', opcode: OpCode.TEXT },
    ]);
    await c.roundTrip(); // the pong follows anything else sent on open
    expect(c.messages).toHaveLength(4);
  });

  test('the ws package client sees the same frames (binary flag included)', async () => {
    const ws = new WsClient(`${h.base}/ws`);
    try {
      const got = await new Promise<Array<[string, boolean]>>((resolve, reject) => {
        const out: Array<[string, boolean]> = [];
        ws.on('message', (d, isBinary) => {
          out.push([(d as Buffer).toString(), isBinary]);
          if (out.length === 4) resolve(out);
        });
        ws.once('error', reject);
        setTimeout(() => reject(new Error(`only ${out.length} messages within 10 s`)), 10_000).unref();
      });
      expect(got).toEqual([
        ['Hello World', false],
        ['Text message', false],
        ['Binary data', true],
        ['Data', false],
      ]);
    } finally {
      ws.terminate();
    }
  });
});
