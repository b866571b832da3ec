import { summarize, fmt, CpuMeter, coreCount } from '../../bench/util';

describe('summarize', () => {
  it.each([
    [[3, 1, 2], { median: 2, min: 1, max: 3, n: 3 }],
    [[4, 1, 3, 2], { median: 2.5, min: 1, max: 4, n: 4 }],
    [[7], { median: 7, min: 7, max: 7, n: 1 }],
  ])('%j', (xs, expected) => {
    expect(summarize(xs)).toEqual(expected);
  });

  it('empty is NaN', () => {
    expect(summarize([]).median).toBeNaN();
  });
});

describe('fmt', () => {
  it.each([
    [1234567, '1.23M'],
    [12345, '12.3k'],
    [999, '999'],
    [1.5, '1.50'],
    [NaN, 'n/a'],
  ])('%d -> %s', (n, s) => expect(fmt(n)).toBe(s));
});

it('CpuMeter sees a busy loop and an idle wait', async () => {
  // Busy: the process burns its own CPU for 200 ms of its own CPU time, so the
  // reading is high even when other processes share the core.
  const busy = new CpuMeter();
  const start = process.cpuUsage();
  while (process.cpuUsage(start).user < 200_000);
  const busyReading = busy.read();
  // Idle: sleeping costs next to nothing.
  const idle = new CpuMeter();
  await new Promise((r) => setTimeout(r, 200));
  const idleReading = idle.read();
  expect(busyReading).toBeGreaterThan(0.1);
  expect(idleReading).toBeLessThan(busyReading);
  expect(idleReading).toBeLessThan(0.2);
  expect(coreCount()).toBeGreaterThan(0);
});
