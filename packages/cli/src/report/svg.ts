/**
 * Small SVG charts for the reports: line charts (tr(F) and loss curves) and
 * grouped bar charts (accuracy per language and schedule), with axes, ticks,
 * axis labels and a legend. Pure functions from data to markup; no scripts,
 * no external resources, so a report is one self-contained file.
 */

/** A named series of (x, y) points. */
export interface Series {
  name: string;
  points: [number, number][];
  /** Drawn dashed (e.g. a normalised curve next to raw ones). */
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Vertical markers, e.g. unfreeze events. */
  markers?: { x: number; label: string }[];
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito), then greys. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000', '#777777', '#BBBBBB', '#444444', '#999999'];

/** Escapes text for XML. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About five round tick values covering [low, high]. */
export function ticks(low: number, high: number, count = 5): number[] {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** A compact label for a tick value. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

const MARGIN = { left: 64, right: 150, top: 34, bottom: 46 };

function frame(width: number, height: number, title: string, xLabel: string, yLabel: string, body: string): string {
  const plotBottom = height - MARGIN.bottom;
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
<title>${escapeXml(title)}</title>
<text x="${MARGIN.left}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>
${body}
<text x="${(MARGIN.left + width - MARGIN.right) / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(xLabel)}</text>
<text transform="translate(14 ${(MARGIN.top + plotBottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>
</svg>`;
}

function legend(width: number, entries: { name: string; color: string; dashed?: boolean; bar?: boolean }[]): string {
  const x = width - MARGIN.right + 12;
  return entries.map((e, i) => {
    const y = MARGIN.top + 6 + i * 16;
    const swatch = e.bar
      ? `<rect x="${x}" y="${y - 8}" width="14" height="10" fill="${e.color}"/>`
      : `<line x1="${x}" y1="${y - 3}" x2="${x + 14}" y2="${y - 3}" stroke="${e.color}" stroke-width="2"${e.dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
    return `<g class="legend-entry">${swatch}<text x="${x + 20}" y="${y}">${escapeXml(e.name)}</text></g>`;
  }).join('\n');
}

/** A line chart; series with no points are listed in the legend only. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 300;
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]).concat((o.markers ?? []).map((m) => m.x));
  const ys = all.map((p) => p[1]).filter(Number.isFinite);
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const [y0, y1] = ys.length ? [Math.min(0, ...ys), Math.max(...ys)] : [0, 1];
  const right = width - MARGIN.right;
  const bottom = height - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0 || 1)) * (right - MARGIN.left);
  const sy = (y: number) => bottom - ((y - y0) / (y1 - y0 || 1)) * (bottom - MARGIN.top);
  const xTicks = ticks(x0, x1).map((t) => `<line x1="${sx(t)}" y1="${bottom}" x2="${sx(t)}" y2="${bottom + 4}" stroke="#333"/><text x="${sx(t)}" y="${bottom + 16}" text-anchor="middle">${formatTick(t)}</text>`);
  const yTicks = ticks(y0, y1).map((t) => `<line x1="${MARGIN.left - 4}" y1="${sy(t)}" x2="${right}" y2="${sy(t)}" stroke="#e5e5e5"/><text x="${MARGIN.left - 7}" y="${sy(t) + 4}" text-anchor="end">${formatTick(t)}</text>`);
  const markers = (o.markers ?? []).map((m) => `<g class="marker"><line x1="${sx(m.x)}" y1="${MARGIN.top}" x2="${sx(m.x)}" y2="${bottom}" stroke="#999" stroke-dasharray="2 3"/><text x="${sx(m.x) + 2}" y="${MARGIN.top + 9}" fill="#666" font-size="9">${escapeXml(m.label)}</text></g>`);
  const lines = o.series.map((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (!pts.length) return '';
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join(' ');
    return `<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
  });
  const axes = `<line x1="${MARGIN.left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/><line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${bottom}" stroke="#333"/>`;
  const body = [...yTicks, ...xTicks, axes, ...markers, ...lines, legend(width, o.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length]!, ...(s.dashed ? { dashed: true } : {}) })))].join('\n');
  return frame(width, height, o.title, o.xLabel, o.yLabel, body);
}

export interface BarChartOptions {
  title: string;
  yLabel: string;
  /** Groups along the x axis (e.g. languages). */
  groups: string[];
  /** One bar per series in each group (e.g. schedules): values[s][g], with optional ± error. */
  series: { name: string; values: number[]; errors?: number[] }[];
  /** y range; defaults to [0, max]. */
  yMax?: number;
  /** A horizontal reference line (e.g. chance). */
  reference?: { y: number; label: string };
  width?: number;
  height?: number;
}

/** Grouped bars with error whiskers. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 300;
  const right = width - MARGIN.right;
  const bottom = height - MARGIN.bottom;
  const top = o.yMax ?? Math.max(1e-9, ...o.series.flatMap((s) => s.values.map((v, g) => v + (s.errors?.[g] ?? 0))).filter(Number.isFinite));
  const sy = (y: number) => bottom - (Math.max(0, y) / top) * (bottom - MARGIN.top);
  const groupWidth = (right - MARGIN.left) / Math.max(1, o.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, o.series.length);
  const yTicks = ticks(0, top).map((t) => `<line x1="${MARGIN.left - 4}" y1="${sy(t)}" x2="${right}" y2="${sy(t)}" stroke="#e5e5e5"/><text x="${MARGIN.left - 7}" y="${sy(t) + 4}" text-anchor="end">${formatTick(t)}</text>`);
  const labels = o.groups.map((g, i) => `<text x="${MARGIN.left + (i + 0.5) * groupWidth}" y="${bottom + 16}" text-anchor="middle">${escapeXml(g)}</text>`);
  const bars = o.series.flatMap((s, si) => s.values.map((v, g) => {
    if (!Number.isFinite(v)) return '';
    const x = MARGIN.left + g * groupWidth + groupWidth * 0.1 + si * barWidth;
    const e = s.errors?.[g] ?? 0;
    const whisker = e > 0 ? `<line x1="${x + barWidth / 2}" y1="${sy(v - e)}" x2="${x + barWidth / 2}" y2="${sy(v + e)}" stroke="#222"/>` : '';
    return `<rect class="bar" x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(barWidth * 0.92).toFixed(1)}" height="${(bottom - sy(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${s.name} · ${o.groups[g]}: ${formatTick(v)}${e ? ` ± ${formatTick(e)}` : ''}`)}</title></rect>${whisker}`;
  }));
  const reference = o.reference ? `<line x1="${MARGIN.left}" y1="${sy(o.reference.y)}" x2="${right}" y2="${sy(o.reference.y)}" stroke="#c00" stroke-dasharray="5 4"/><text x="${right - 2}" y="${sy(o.reference.y) - 3}" text-anchor="end" fill="#c00" font-size="9">${escapeXml(o.reference.label)}</text>` : '';
  const axes = `<line x1="${MARGIN.left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/><line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${bottom}" stroke="#333"/>`;
  const body = [...yTicks, ...labels, ...bars, reference, axes, legend(width, o.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length]!, bar: true })))].join('\n');
  return frame(width, height, o.title, '', o.yLabel, body);
}
