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

it('CpuMeter reads CPU time over wall time, both taken from a scripted clock', () => {
  // A fake clock: the reading is exact arithmetic, whatever else the machine is doing.
  let cpuUs = 5_000_000;
  let sysUs = 1_000_000;
  let wallMs = 90_000;
  const cpu = jest
    .spyOn(process, 'cpuUsage')
    .mockImplementation((prev?: NodeJS.CpuUsage) => ({ user: cpuUs - (prev?.user ?? 0), system: sysUs - (prev?.system ?? 0) }));
  const now = jest.spyOn(performance, 'now').mockImplementation(() => wallMs);
  try {
    const meter = new CpuMeter();
    expect(meter.read()).toBe(0); // no wall time yet
    cpuUs += 120_000;
    sysUs += 30_000;
    wallMs += 200;
    expect(meter.read()).toBeCloseTo(0.75, 10); // 150 ms of CPU in 200 ms
    meter.reset();
    wallMs += 400;
    expect(meter.read()).toBe(0); // idle since the reset
    cpuUs += 800_000;
    wallMs += 400;
    expect(meter.read()).toBeCloseTo(1, 10); // one full core over the window
  } finally {
    cpu.mockRestore();
    now.mockRestore();
  }
});

it('CpuMeter on the real clock: a busy loop reads a positive, finite share of a core', () => {
  // The process burns 200 ms of its own CPU time, so the reading cannot be zero.
  // No comparison with an idle window: background threads (GC, other jest work)
  // can make any wall-clock reading larger, and the arithmetic is pinned above.
  const busy = new CpuMeter();
  const start = process.cpuUsage();
  while (process.cpuUsage(start).user < 200_000);
  const busyReading = busy.read();
  expect(busyReading).toBeGreaterThan(0);
  expect(Number.isFinite(busyReading)).toBe(true);
  expect(coreCount()).toBeGreaterThan(0);
});
