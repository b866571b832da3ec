import WsClient from 'ws';
import { HandshakeError, OpCode } from '../../index';
import { createSimpleHandlerApp } from '../../examples/simple-handler';
import { Harness } from './helpers';

describe('examples/simple-handler (Handler Sederhana)', () => {
  const h = new Harness();
  beforeEach(() => h.start(createSimpleHandlerApp()));
  afterEach(() => h.closeAll());

  test('a new connection is greeted with "Connected!" as text', async () => {
    const c = await h.connect('/ws');
    expect(await c.next()).toEqual({ data: 'Connected!', opcode: OpCode.TEXT });
  });

  test('the ws package client gets the same greeting', async () => {
    const ws = new WsClient(`${h.base}/ws`);
    try {
      const [data, isBinary] = await new Promise<[Buffer, boolean]>((resolve, reject) => {
        ws.once('message', (d, b) => resolve([d as Buffer, b]));
        ws.once('error', reject);
        setTimeout(() => reject(new Error('no message within 10 s')), 10_000).unref();
      });
      expect(isBinary).toBe(false);
      expect(data.toString()).toBe('Connected!');
    } finally {
      ws.terminate();
    }
  });

  test('any other path is refused with 404', async () => {
    const err = await h.connect('/other').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandshakeError);
    expect((err as HandshakeError).statusCode).toBe(404);
  });
});
