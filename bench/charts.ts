/**
 * SVG charts for bench/RESULTS.md, written by hand (no dependency): grouped
 * bars for the scenario table, line charts for the curves (bench/curves.ts),
 * and a latency percentile plot. Every chart is a standalone SVG 1.1
 * document: text and attributes are escaped, every coordinate is a finite
 * number, values that are missing (n/a) are labelled instead of drawn.
 */

/** Colours per series name (display names of bench/suite.ts NAMES); others cycle through FALLBACK. */
export const PALETTE: Record<string, string> = {
  Xyra: '#c0392b',
  floor: '#4d4d4d',
  'bare net': '#4d4d4d',
  ws: '#1f78b4',
  Bun: '#e69f00',
  'node:http': '#6a3d9a',
};
const FALLBACK = ['#33a02c', '#b15928', '#a6cee3', '#fb9a99', '#cab2d6'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Escapes text for XML content and double-quoted attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate: finite, one decimal. */
function n(x: number): string {
  return Number.isFinite(x) ? (Math.round(x * 10) / 10).toString() : '0';
}

export function colorOf(name: string, index: number): string {
  const base = name.replace(/ p\d+(\.\d+)?$/, '');
  return PALETTE[base] ?? FALLBACK[index % FALLBACK.length];
}

/** Compact tick label: 1500000 -> 1.5M, 2000 -> 2k, 0.25 -> 0.25. */
export function compact(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number): string => String(Number(x.toPrecision(3)));
  if (a >= 1e9) return trim(v / 1e9) + 'G';
  if (a >= 1e6) return trim(v / 1e6) + 'M';
  if (a >= 1e3) return trim(v / 1e3) + 'k';
  return trim(v);
}

/** Round tick values from 0 to at least `max` (steps of 1, 2 or 5 x 10^k). */
export function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [min, max] (with 2 and 5 in between when the span is short). */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const mults = hi - lo <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = lo; e <= hi; e++) for (const m of mults) out.push(Number((m * 10 ** e).toPrecision(12)));
  return out.filter((t) => t >= 10 ** lo && t <= 10 ** hi);
}

/** Splits a label into lines of at most `width` characters at spaces. */
export function wrap(label: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of label.split(' ')) {
    if (cur !== '' && (cur + ' ' + word).length > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur === '' ? word : cur + ' ' + word;
  }
  if (cur !== '') lines.push(cur);
  return lines;
}

function header(w: number, h: number, title: string, subtitle?: string): string[] {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT} font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>`,
    `<text x="${w / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    ...(subtitle ? [`<text x="${w / 2}" y="40" text-anchor="middle" font-size="11" fill="#555555">${escapeXml(subtitle)}</text>`] : []),
  ];
}

function legend(items: Array<{ name: string; color: string; dashed?: boolean }>, x0: number, y: number): string[] {
  const out: string[] = [];
  let x = x0;
  for (const it of items) {
    out.push(
      `<line x1="${n(x)}" y1="${n(y - 4)}" x2="${n(x + 18)}" y2="${n(y - 4)}" stroke="${it.color}" stroke-width="4"${it.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
      `<text x="${n(x + 22)}" y="${n(y)}">${escapeXml(it.name)}</text>`,
    );
    x += 34 + it.name.length * 7;
  }
  return out;
}

/** One group of bars: a label and one value per series (undefined or NaN: n/a). */
export interface BarGroup {
  label: string;
  values: Array<number | undefined>;
  /** Text above each bar (default: the value, compact). */
  labels?: Array<string | undefined>;
}

export interface BarChart {
  title: string;
  subtitle?: string;
  yLabel: string;
  series: string[];
  groups: BarGroup[];
  /** A dashed horizontal line, e.g. the floor at 1.0. */
  reference?: { value: number; label: string };
}

/** Grouped bars: one group per entry, one bar per series, heights proportional to the values from 0. */
export function barChart(c: BarChart): string {
  const barW = 16;
  const groupW = Math.max(110, c.series.length * barW + 30);
  const left = 70;
  const right = 20;
  const top = 70;
  const plotH = 280;
  const maxLines = Math.max(1, ...c.groups.map((g) => wrap(g.label, 18).length));
  const bottom = 30 + maxLines * 13;
  const w = left + right + Math.max(1, c.groups.length) * groupW;
  const h = top + plotH + bottom;
  const values = c.groups.flatMap((g) => g.values.filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0));
  const ticks = linearTicks(Math.max(c.reference?.value ?? 0, ...values, 0) * 1.08);
  const yMax = ticks[ticks.length - 1];
  const y = (v: number): number => top + plotH - (v / yMax) * plotH;
  const out = header(w, h, c.title, c.subtitle);
  out.push(...legend(c.series.map((s, i) => ({ name: s, color: colorOf(s, i) })), left, 58));
  for (const t of ticks) {
    out.push(
      `<line x1="${left}" y1="${n(y(t))}" x2="${w - right}" y2="${n(y(t))}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${n(y(t) + 4)}" text-anchor="end">${escapeXml(compact(t))}</text>`,
    );
  }
  out.push(`<text transform="translate(16 ${n(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel)}</text>`);
  c.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - c.series.length * barW) / 2;
    c.series.forEach((s, si) => {
      const v = g.values[si];
      const x = gx + si * barW;
      if (v === undefined || !Number.isFinite(v) || v < 0) {
        out.push(`<text x="${n(x + barW / 2)}" y="${n(top + plotH - 4)}" text-anchor="middle" font-size="9" fill="#888888">n/a</text>`);
        return;
      }
      const bh = (v / yMax) * plotH;
      out.push(
        `<rect class="bar" data-series="${escapeXml(s)}" data-value="${v}" x="${n(x + 1)}" y="${n(top + plotH - bh)}" width="${barW - 2}" height="${n(bh)}" fill="${colorOf(s, si)}"><title>${escapeXml(`${s}: ${g.labels?.[si] ?? compact(v)}`)}</title></rect>`,
        `<text x="${n(x + barW / 2)}" y="${n(top + plotH - bh - 3)}" text-anchor="middle" font-size="8">${escapeXml(g.labels?.[si] ?? compact(v))}</text>`,
      );
    });
    wrap(g.label, 18).forEach((line, li) => {
      out.push(`<text x="${n(left + gi * groupW + groupW / 2)}" y="${n(top + plotH + 16 + li * 13)}" text-anchor="middle" font-size="10">${escapeXml(line)}</text>`);
    });
  });
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${w - right}" y2="${top + plotH}" stroke="#333333"/>`);
  if (c.reference !== undefined) {
    const ry = y(c.reference.value);
    out.push(
      `<line x1="${left}" y1="${n(ry)}" x2="${w - right}" y2="${n(ry)}" stroke="#4d4d4d" stroke-width="1.5" stroke-dasharray="6,4"/>`,
      `<text x="${w - right - 4}" y="${n(ry - 4)}" text-anchor="end" font-size="10" fill="#4d4d4d">${escapeXml(c.reference.label)}</text>`,
    );
  }
  out.push('</svg>', '');
  return out.join('\n');
}

export interface LineSeries {
  name: string;
  /** [x, y] pairs; points with a non-finite or (on a log axis) non-positive coordinate are left out. */
  points: Array<[number, number]>;
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  logX?: boolean;
  logY?: boolean;
  /** Categorical x axis: tick labels at x = 0, 1, 2, ... (e.g. percentiles). */
  xCategories?: string[];
}

/** Lines with markers, one per series, on linear or log axes. */
export function lineChart(c: LineChart): string {
  const w = 760;
  const h = 440;
  const left = 80;
  const right = 24;
  const top = 74;
  const bottom = 60;
  const plotW = w - left - right;
  const plotH = h - top - bottom;
  const ok = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!c.logX || x > 0) && (!c.logY || y > 0);
  const series = c.series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => ok(x, y)) }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let xMin: number;
  let xMax: number;
  let xTicks: number[];
  if (c.xCategories !== undefined) {
    xMin = -0.3;
    xMax = c.xCategories.length - 1 + 0.3;
    xTicks = c.xCategories.map((_, i) => i);
  } else if (c.logX) {
    xTicks = logTicks(xs.length ? Math.min(...xs) : 1, xs.length ? Math.max(...xs) : 10);
    xMin = xTicks[0];
    xMax = xTicks[xTicks.length - 1];
  } else {
    xTicks = linearTicks(xs.length ? Math.max(...xs) : 1);
    xMin = 0;
    xMax = xTicks[xTicks.length - 1];
  }
  let yTicks: number[];
  if (c.logY) yTicks = logTicks(ys.length ? Math.min(...ys) : 1, ys.length ? Math.max(...ys) : 10);
  else yTicks = linearTicks((ys.length ? Math.max(...ys) : 1) * 1.05);
  const yMin = c.logY ? yTicks[0] : 0;
  const yMax = yTicks[yTicks.length - 1];
  const sx = (x: number): number => {
    const f = c.logX && c.xCategories === undefined ? (Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin) || 1) : (x - xMin) / (xMax - xMin || 1);
    return left + f * plotW;
  };
  const sy = (y: number): number => {
    const f = c.logY ? (Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin) || 1) : (y - yMin) / (yMax - yMin || 1);
    return top + plotH - f * plotH;
  };
  const out = header(w, h, c.title, c.subtitle);
  out.push(...legend(series.map((s, i) => ({ name: s.name, color: colorOf(s.name, i), dashed: s.dashed })), left, 60));
  for (const t of yTicks) {
    out.push(
      `<line x1="${left}" y1="${n(sy(t))}" x2="${w - right}" y2="${n(sy(t))}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${n(sy(t) + 4)}" text-anchor="end">${escapeXml(compact(t))}</text>`,
    );
  }
  xTicks.forEach((t, i) => {
    const label = c.xCategories !== undefined ? c.xCategories[i] : compact(t);
    out.push(
      `<line x1="${n(sx(t))}" y1="${top}" x2="${n(sx(t))}" y2="${top + plotH}" stroke="#f0f0f0"/>`,
      `<text x="${n(sx(t))}" y="${top + plotH + 16}" text-anchor="middle">${escapeXml(label)}</text>`,
    );
  });
  out.push(
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>`,
    `<text x="${n(left + plotW / 2)}" y="${h - 16}" text-anchor="middle">${escapeXml(c.xLabel + (c.logX ? ' (log scale)' : ''))}</text>`,
    `<text transform="translate(18 ${n(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel + (c.logY ? ' (log scale)' : ''))}</text>`,
  );
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const color = colorOf(s.name, i);
    const d = s.points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${n(sx(x))},${n(sy(y))}`).join(' ');
    out.push(`<path class="line" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    for (const [x, y] of s.points) {
      out.push(`<circle cx="${n(sx(x))}" cy="${n(sy(y))}" r="3" fill="${color}"><title>${escapeXml(`${s.name}: ${compact(x)}, ${compact(y)}`)}</title></circle>`);
    }
  });
  out.push('</svg>', '');
  return out.join('\n');
}
