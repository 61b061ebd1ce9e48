// The report's SVG helpers: tick choice, escaping, and charts that carry
// their data, axes and legends (the rendering itself is tested in Chromium, test/study.e2e.test.ts).
import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, formatTick, lineChart, ticks } from '../src/report/svg.js';

describe('report SVG', () => {
  it('ticks are round values covering the range', () => {
    expect(ticks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(0, 300)).toEqual([0, 100, 200, 300]);
    expect(ticks(3e-6, 9e-6)).toEqual([4e-6, 6e-6, 8e-6]);
    expect(ticks(2, 2)).toEqual([2]);
    expect(formatTick(0.000035)).toBe('3.5e-5');
    expect(formatTick(250)).toBe('250');
  });

  it('escapes text', () => {
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
  });

  it('a line chart draws one path per series with points, markers and a legend entry per series', () => {
    const svg = lineChart({
      title: 'tr(F) <per block>', xLabel: 'step', yLabel: 'tr(F)',
      series: [{ name: 'block 0', points: [[0, 1], [10, 3], [20, 2]] }, { name: 'sum', points: [[0, 2], [20, 4]], dashed: true }, { name: 'empty', points: [] }],
      markers: [{ x: 10, label: '+2' }],
    });
    expect(svg.match(/class="series"/g)).toHaveLength(2);
    expect(svg.match(/class="legend-entry"/g)).toHaveLength(3);
    expect(svg).toContain('stroke-dasharray="4 3"');
    expect(svg).toContain('tr(F) &lt;per block&gt;');
    expect(svg.match(/class="marker"/g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|undefined/);
  });

  it('a bar chart draws a bar per finite value, with whiskers for errors', () => {
    const svg = barChart({
      title: 'accuracy', yLabel: 'accuracy', groups: ['src', 'l1'], yMax: 1,
      series: [{ name: 'standard', values: [0.9, 0.6], errors: [0.01, 0] }, { name: 'gu', values: [0.88, NaN] }],
      reference: { y: 1 / 3, label: 'chance' },
    });
    expect(svg.match(/class="bar"/g)).toHaveLength(3);
    expect(svg).toContain('<title>standard · src: 0.9 ± 0.01</title>');
    expect(svg).toContain('chance');
    expect(svg).not.toMatch(/NaN|undefined/);
  });
});
