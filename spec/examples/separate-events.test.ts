import { OpCode } from '../../index';
import { createSeparateEventsApp } from '../../examples/separate-events';
import { Harness } from './helpers';
import { waitFor } from '../lib/helpers';

describe('examples/separate-events (Handler dengan Events Terpisah)', () => {
  const h = new Harness();
  let log: jest.SpyInstance;
  beforeEach(async () => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
    await h.start(createSeparateEventsApp());
  });
  afterEach(async () => {
    await h.closeAll();
    log.mockRestore();
  });

  test('open sends "Welcome!"', async () => {
    const c = await h.connect('/chat');
    expect(await c.next()).toEqual({ data: 'Welcome!', opcode: OpCode.TEXT });
  });

  test.each([
    ['hello', 'Echo: hello'],
    ['', 'Echo: '],
    ['héllo wörld 🚀', 'Echo: héllo wörld 🚀'],
    ['Echo: nested', 'Echo: Echo: nested'],
  ])('message %j is answered with %j', async (sent, expected) => {
    const c = await h.connect('/chat');
    await c.next();
    c.ws.send(sent);
    expect(await c.next()).toEqual({ data: expected, opcode: OpCode.TEXT });
    // One answer per message: the next message's answer comes right after.
    c.ws.send('sentinel');
    expect(await c.next()).toEqual({ data: 'Echo: sentinel', opcode: OpCode.TEXT });
    expect(c.messages).toHaveLength(3);
  });

  test('each event prints its line, the close included', async () => {
    const c = await h.connect('/chat');
    await c.next();
    c.ws.send('ping');
    await c.next();
    c.ws.close();
    await c.closed();
    await waitFor(() => log.mock.calls.some((a) => a[0] === 'Client disconnected'), 2000, 'close log');
    expect(log.mock.calls.map((a) => a[0])).toEqual(['Client connected', 'Received: ping', 'Client disconnected']);
  });
});
