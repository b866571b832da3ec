import { createCheckStatusApp } from '../../examples/check-status';
import { Harness } from './helpers';
import { waitFor } from '../lib/helpers';

describe('examples/check-status (Check Connection Status)', () => {
  const h = new Harness();
  let log: jest.SpyInstance;
  beforeEach(async () => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
    await h.start(createCheckStatusApp());
  });
  afterEach(async () => {
    await h.closeAll();
    log.mockRestore();
  });

  test('an open connection is told "Connection is active"', async () => {
    const c = await h.connect('/ws');
    expect(await c.nextText()).toBe('Connection is active');
    expect(log).not.toHaveBeenCalledWith('Connection is closed');
  });

  test('after the close the same check takes the closed branch and sends nothing', async () => {
    const c = await h.connect('/ws');
    await c.next();
    c.ws.close(1000);
    expect((await c.closed()).code).toBe(1000);
    await waitFor(() => log.mock.calls.length > 0, 2000, 'closed log');
    expect(log.mock.calls).toEqual([['Connection is closed']]);
    expect(c.texts).toEqual(['Connection is active']);
  });
});
