/**
 * Reports: a live line per case, a per-section table for the terminal, and
 * report.json + a static index.html (one colour per verdict, the exchange
 * log of every case) under reports/conformance/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Verdict } from './case';
import { SECTION_TITLES, compareIds } from './catalogue';
import { CaseResult, tally } from './runner';

/** Run metadata stored with the report. */
export interface ReportMeta {
  agent: string;
  url: string;
  startedAt: string;
  durationMs: number;
  full: boolean;
  cases: string;
}

const VERDICTS = [Verdict.OK, Verdict.NON_STRICT, Verdict.INFORMATIONAL, Verdict.UNIMPLEMENTED, Verdict.FAILED];

/** Section number of a case id ('6.4.1' -> '6'). */
export function sectionOf(id: string): string {
  return id.split('.')[0];
}

/** One terminal line for a finished case. */
export function caseLine(r: CaseResult): string {
  const ms = `${r.durationMs}ms`.padStart(7);
  return `${r.verdict.padEnd(13)} ${r.id.padEnd(9)} ${ms}  ${r.reason}`;
}

/** Verdict counts per section, in section order. */
export function sectionCounts(results: CaseResult[]): Array<{ section: string; title: string; counts: Record<Verdict, number>; total: number }> {
  const by = new Map<string, CaseResult[]>();
  for (const r of results) {
    const s = sectionOf(r.id);
    if (!by.has(s)) by.set(s, []);
    by.get(s)!.push(r);
  }
  return [...by.keys()]
    .sort(compareIds)
    .map((s) => ({ section: s, title: SECTION_TITLES[s] ?? '', counts: tally(by.get(s)!), total: by.get(s)!.length }));
}

/** The per-section table as fixed-width text. */
export function sectionTable(results: CaseResult[]): string {
  const head = ['Section', 'Title', 'OK', 'NON-STRICT', 'INFO', 'UNIMPL', 'FAILED', 'Total'];
  const rows = sectionCounts(results).map((s) => [s.section, s.title, ...VERDICTS.map((v) => String(s.counts[v])), String(s.total)]);
  const all = tally(results);
  rows.push(['all', '', ...VERDICTS.map((v) => String(all[v])), String(results.length)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/** The per-section table as Markdown (for reports to the lead). */
export function sectionMarkdown(results: CaseResult[]): string {
  const lines = ['| Section | Title | OK | NON-STRICT | INFO | UNIMPL | FAILED | Total |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const s of sectionCounts(results)) lines.push(`| ${s.section} | ${s.title} | ${VERDICTS.map((v) => s.counts[v]).join(' | ')} | ${s.total} |`);
  return lines.join('\n');
}

/** One run's results under a column name, for {@link sideBySideTable}. */
export interface NamedRun {
  name: string;
  results: CaseResult[];
}

/** Short verdict labels for the side-by-side cells (they must fit four columns on a terminal). */
const SHORT: Record<Verdict, string> = {
  [Verdict.OK]: 'OK',
  [Verdict.NON_STRICT]: 'NS',
  [Verdict.INFORMATIONAL]: 'INFO',
  [Verdict.UNIMPLEMENTED]: 'UNIMPL',
  [Verdict.FAILED]: 'FAILED',
};

/** Compact verdict counts, e.g. '141 OK, 4 NS'; '' when there are no results. */
export function verdictSummary(results: CaseResult[]): string {
  const t = tally(results);
  return VERDICTS.filter((v) => t[v] > 0)
    .map((v) => `${t[v]} ${SHORT[v]}`)
    .join(', ');
}

/**
 * The side-by-side table as cells: a row per section present in any run (in
 * section order) plus 'all', a column per run. A section a run does not
 * have (11 in a server run) gets an empty cell.
 */
export function sideBySideCells(runs: NamedRun[]): { head: string[]; rows: string[][] } {
  const sections = [...new Set(runs.flatMap((r) => r.results.map((c) => sectionOf(c.id))))].sort(compareIds);
  const rows = sections.map((s) => [s, SECTION_TITLES[s] ?? '', ...runs.map((r) => verdictSummary(r.results.filter((c) => sectionOf(c.id) === s)))]);
  rows.push(['all', '', ...runs.map((r) => verdictSummary(r.results))]);
  return { head: ['Section', 'Title', ...runs.map((r) => r.name)], rows };
}

/** Several runs' per-section verdicts side by side, as fixed-width text. */
export function sideBySideTable(runs: NamedRun[]): string {
  const { head, rows } = sideBySideCells(runs);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/** Several runs side by side as Markdown; the section cell carries its title ('1 Framing'). */
export function sideBySideMarkdown(runs: NamedRun[]): string {
  const { head, rows } = sideBySideCells(runs);
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(['Section', ...head.slice(2)]), line(head.slice(1).map(() => '---')), ...rows.map((r) => line([`${r[0]} ${r[1]}`.trim(), ...r.slice(2)]))].join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const cls = (v: Verdict): string => `v-${v.toLowerCase().replace(/[^a-z]/g, '')}`;

/** Render the static HTML report. */
export function renderHtml(results: CaseResult[], meta: ReportMeta): string {
  const summary = sectionCounts(results)
    .map((s) => `<tr><td>${s.section}</td><td>${esc(s.title)}</td>${VERDICTS.map((v) => `<td class="${s.counts[v] ? cls(v) : ''}">${s.counts[v]}</td>`).join('')}<td>${s.total}</td></tr>`)
    .join('\n');
  const cases = results
    .map((r) => {
      const log = r.log.map((e) => `<tr class="log-${e.dir}"><td>${e.t}</td><td>${e.dir}</td><td>${esc(e.text)}</td></tr>`).join('');
      const expected = Object.entries(r.expected)
        .map(([k, v]) => `<div><b>${k}</b>: ${esc(v.join(', ') || '(no events)')}</div>`)
        .join('');
      return `<details id="case-${r.id}"><summary><span class="badge ${cls(r.verdict)}">${r.verdict}</span> <b>${r.id}</b> ${esc(r.description)} <span class="muted">— ${esc(r.reason)} (${r.durationMs} ms)</span></summary>
<div class="body">
<p><b>RFC:</b> ${esc(r.rfc)}</p>
<p><b>Behaviour:</b> ${r.behavior} — ${esc(r.behaviorReason)}<br><b>Close behaviour:</b> ${r.behaviorClose} — ${esc(r.closeReason)}</p>
<p><b>Expected events:</b></p>${expected}
<p><b>Expected close:</b> ${esc(r.expectedClose)}</p>
<p><b>Received:</b> ${esc(r.received.join(', ') || '(no events)')}</p>
<p><b>Close record:</b> <code>${esc(JSON.stringify(r.close))}</code></p>
${r.offeredExtensions ? `<p><b>Extensions:</b> offered <code>${esc(r.offeredExtensions)}</code>, accepted <code>${esc(r.acceptedExtensions ?? 'none')}</code></p>` : ''}
${r.violations.length ? `<p><b>Server violations:</b> ${esc(r.violations.join('; '))}</p>` : ''}
<table class="log"><tr><th>ms</th><th>dir</th><th>what</th></tr>${log}</table>
${r.logTruncated ? `<p class="muted">${r.logTruncated} more log entries not shown</p>` : ''}
</div></details>`;
    })
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Xyra conformance: ${esc(meta.agent)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:2px 8px;border:1px solid #ddd;text-align:right}td:nth-child(2){text-align:left}
.v-ok{background:#9f9}.v-nonstrict{background:#ff9}.v-informational{background:#9cf}.v-unimplemented{background:#ccc}.v-failed{background:#f88}
.badge{display:inline-block;min-width:8em;text-align:center;padding:0 4px;border-radius:3px;font-size:12px}
.muted{color:#777}details{margin:2px 0}.body{margin:4px 0 12px 2em}
table.log td{text-align:left;font:12px monospace;border:none;padding:0 8px}.log-tx td{color:#036}.log-rx td{color:#060}.log-note td{color:#840}
</style></head><body>
<h1>Conformance report: ${esc(meta.agent)}</h1>
<p>${esc(meta.url)} — cases <code>${esc(meta.cases)}</code> — ${meta.full ? 'full' : 'quick'} sizes — started ${esc(meta.startedAt)} — ${(meta.durationMs / 1000).toFixed(1)} s</p>
<table><tr><th>Section</th><th>Title</th>${VERDICTS.map((v) => `<th>${v}</th>`).join('')}<th>Total</th></tr>
${summary}</table>
<h2>Cases</h2>
${cases}
</body></html>
`;
}

/** Write report.json and index.html into `dir`; returns the paths. */
export function writeReports(dir: string, results: CaseResult[], meta: ReportMeta): { json: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'report.json');
  const html = path.join(dir, 'index.html');
  fs.writeFileSync(json, JSON.stringify({ meta, totals: tally(results), cases: results }, null, 1));
  fs.writeFileSync(html, renderHtml(results, meta));
  return { json, html };
}
