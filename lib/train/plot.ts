// Curves as SVG, in the style of the demo's learning curves (examples/main.mjs draws its
// curves.svg with this; lrFinder's curve too): panels side by side, each 480 × 420 with a title,
// a framed plot area with grid lines, axis labels, reference lines and a legend. Plain strings,
// no DOM.

/** One axis of a panel. */
export interface PlotAxis {
  /** Its label. */
  label: string;
  /** The range shown; values outside are clamped to it. */
  min: number;
  max: number;
  /** A log scale (min > 0). Default false. */
  log?: boolean | undefined;
  /**
   * Tick values. Default: linear — 6 evenly spaced values, rounded to integers when the range
   * spans ≥ 5; log — each power of ten in the range.
   */
  ticks?: readonly number[] | undefined;
}

/** A curve. */
export interface PlotSeries {
  label: string;
  /** A CSS color. */
  color: string;
  /** `[x, y]` points in order; non-finite ones are left out. */
  points: readonly (readonly [number, number])[];
}

/** A dashed reference line: horizontal at `y`, or vertical at `x`. */
export interface PlotRef {
  y?: number | undefined;
  x?: number | undefined;
  label: string;
  /** SVG stroke-dasharray. Default '6 4'. */
  dash?: string | undefined;
}

/** One panel. */
export interface PlotPanel {
  title: string;
  x: PlotAxis;
  y: PlotAxis;
  series: readonly PlotSeries[];
  refs?: readonly PlotRef[] | undefined;
}

const PANEL_W = 480;
const H = 420;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function defaultTicks(a: PlotAxis): number[] {
  if (a.log) {
    const out: number[] = [];
    for (let e = Math.ceil(Math.log10(a.min)); e <= Math.floor(Math.log10(a.max)); ++e)
      out.push(Number(`1e${e}`));
    return out;
  }
  const out: number[] = [];
  for (let i = 0; i <= 5; ++i) {
    const v = a.min + ((a.max - a.min) * i) / 5;
    out.push(a.max - a.min >= 5 ? Math.round(v) : Number(v.toPrecision(3)));
  }
  return out;
}

/** Position of v in [0, 1] along the axis (clamped). */
function along(a: PlotAxis, v: number): number {
  const c = Math.min(Math.max(v, a.min), a.max);
  return a.log
    ? (Math.log10(c) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min))
    : (c - a.min) / (a.max - a.min);
}

function panel(parts: string[], x0: number, p: PlotPanel): void {
  const px = x0 + 60;
  const py = 50;
  const pw = 380;
  const ph = 300;
  const fx = (v: number) => px + along(p.x, v) * pw;
  const fy = (v: number) => py + ph - along(p.y, v) * ph;
  parts.push(
    `<text x="${px + pw / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${esc(p.title)}</text>`,
  );
  parts.push(`<rect x="${px}" y="${py}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (const t of p.y.ticks ?? defaultTicks(p.y)) {
    parts.push(`<line x1="${px}" x2="${px + pw}" y1="${fy(t)}" y2="${fy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${px - 6}" y="${fy(t) + 4}" text-anchor="end" font-size="11">${t}</text>`);
  }
  for (const v of p.x.ticks ?? defaultTicks(p.x)) {
    parts.push(
      `<text x="${fx(v)}" y="${py + ph + 16}" text-anchor="middle" font-size="11">${v}</text>`,
    );
  }
  parts.push(
    `<text x="${px + pw / 2}" y="${py + ph + 36}" text-anchor="middle" font-size="12">${esc(p.x.label)}</text>`,
  );
  parts.push(
    `<text x="${x0 + 14}" y="${py + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${py + ph / 2})">${esc(p.y.label)}</text>`,
  );
  for (const r of p.refs ?? []) {
    const dash = r.dash ?? '6 4';
    if (r.y !== undefined) {
      parts.push(
        `<line x1="${px}" x2="${px + pw}" y1="${fy(r.y)}" y2="${fy(r.y)}" stroke="#555" stroke-dasharray="${dash}"/>`,
      );
      parts.push(
        `<text x="${px + pw - 4}" y="${fy(r.y) - 4}" text-anchor="end" font-size="11" fill="#555">${esc(r.label)}</text>`,
      );
    }
    if (r.x !== undefined) {
      parts.push(
        `<line x1="${fx(r.x)}" x2="${fx(r.x)}" y1="${py}" y2="${py + ph}" stroke="#555" stroke-dasharray="${dash}"/>`,
      );
      parts.push(
        `<text x="${fx(r.x) + 4}" y="${py + ph - 6}" font-size="11" fill="#555">${esc(r.label)}</text>`,
      );
    }
  }
  p.series.forEach((s, i) => {
    const d = s.points
      .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b))
      .map(([a, b], k) => `${k ? 'L' : 'M'}${fx(a).toFixed(1)},${fy(b).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(
      `<line x1="${px + 12}" x2="${px + 32}" y1="${py + 16 + i * 18}" y2="${py + 16 + i * 18}" stroke="${s.color}" stroke-width="2"/>`,
    );
    parts.push(
      `<text x="${px + 38}" y="${py + 20 + i * 18}" font-size="12">${esc(s.label)}</text>`,
    );
  });
}

/** Panels side by side as one SVG document (480 × 420 each). */
export function plotSvg(panels: readonly PlotPanel[]): string {
  const W = PANEL_W * panels.length;
  const parts: string[] = [];
  panels.forEach((p, i) => panel(parts, i * PANEL_W, p));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
