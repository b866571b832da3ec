import { createErrorHandlingApp, MAX_MESSAGE_LENGTH, type ErrorHandlingOptions } from '../../examples/error-handling';
import { Harness } from './helpers';

describe('examples/error-handling (Error Handling)', () => {
  const h = new Harness();
  let log: jest.SpyInstance;
  beforeEach(() => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
  });
  afterEach(async () => {
    await h.closeAll();
    log.mockRestore();
  });

  async function open(options: ErrorHandlingOptions = {}) {
    await h.start(createErrorHandlingApp(options));
    const c = await h.connect('/ws');
    expect(await c.nextText()).toBe('Welcome!');
    return c;
  }

  test.each([
    ['hello', 'Processed: hello'],
    ['x'.repeat(MAX_MESSAGE_LENGTH), `Processed: ${'x'.repeat(MAX_MESSAGE_LENGTH)}`],
    ['x'.repeat(MAX_MESSAGE_LENGTH + 1), 'Message too long'],
    ['y'.repeat(64 * 1024), 'Message too long'],
  ])('message of %#: answered as the docs say', async (sent, expected) => {
    const c = await open();
    c.ws.send(sent);
    expect(await c.nextText()).toBe(expected);
    // One answer per message: the next message's answer comes right after.
    c.ws.send('sentinel');
    expect(await c.nextText()).toBe('Processed: sentinel');
    expect(c.messages).toHaveLength(3);
  });

  test('a failing "process message" step answers "Error processing message" and keeps the connection', async () => {
    const c = await open({
      process(m) {
        if (String(m) === 'boom') throw new Error('cannot process');
        return String(m).toUpperCase();
      },
    });
    c.ws.send('boom');
    expect(await c.nextText()).toBe('Error processing message');
    c.ws.send('fine');
    expect(await c.nextText()).toBe('Processed: FINE');
    expect(log).toHaveBeenCalledWith('Error processing message: Error: cannot process');
  });

  test('a failing setup in open closes with 1011 "Internal error" after the welcome', async () => {
    const c = await open({
      setup() {
        throw new Error('no state');
      },
    });
    expect(await c.closed()).toEqual({ code: 1011, reason: 'Internal error' });
    expect(c.texts).toEqual(['Welcome!']);
    expect(log).toHaveBeenCalledWith('Error in on_open: Error: no state');
  });
});
