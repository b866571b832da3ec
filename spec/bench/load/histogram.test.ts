import { Histogram } from '../../../bench/load/histogram';

describe('Histogram', () => {
  it.each([
    // samples (µs), percentile, expected (µs)
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50, 5],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10],
    [[10.7], 50, 10],
    [[250_000, 1], 99, 250_000],
    [[20_000_000], 50, 10_000_000],
    [[-5], 50, 0],
  ])('%j p%i = %i', (samples, p, expected) => {
    const h = new Histogram();
    for (const s of samples) h.record(s);
    expect(h.percentile(p)).toBe(expected);
  });

  it('is NaN when empty and merges through toSparse', () => {
    const a = new Histogram();
    expect(a.percentile(50)).toBeNaN();
    const b = new Histogram();
    for (let i = 0; i < 100; i++) b.record(i < 90 ? 100 : 5000);
    a.addSparse(b.toSparse());
    expect(a.total).toBe(100);
    expect(a.percentile(50)).toBe(100);
    expect(a.percentile(99)).toBe(5000);
    a.reset();
    expect(a.total).toBe(0);
  });
});
