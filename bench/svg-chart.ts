/** @module A latency-against-rate line chart as a standalone SVG (no dependency: a few lines of geometry). */

export interface Series {
  name: string
  /** [requests a second, latency ms] */
  points: Array<[number, number]>
}

const COLOURS = ['#1f77b4', '#1f77b4', '#d62728', '#d62728']
const W = 760
const H = 420
const M = { left: 70, right: 170, top: 40, bottom: 50 }

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

export interface ChartAxes {
  xLabel: string
  yLabel: string
  /** Logarithmic y (latency spans orders of magnitude), else linear from 0. */
  logY: boolean
}

const LATENCY_AXES: ChartAxes = { xLabel: 'requests a second (achieved)', yLabel: 'latency, ms (log scale)', logY: true }

/** x linear from 0, y logarithmic (latency spans orders of magnitude) or linear; p99 lines dashed. */
export function latencyChart(series: readonly Series[], title: string, axes: ChartAxes = LATENCY_AXES): string {
  const all = series.flatMap((s) => s.points)
  const xMax = Math.max(1, ...all.map(([x]) => x)) * 1.05
  const yMin = axes.logY ? Math.max(0.1, Math.min(...all.map(([, y]) => y)) / 1.5) : 0
  const yMax = axes.logY ? Math.max(...all.map(([, y]) => y), 1) * 1.5 : Math.max(...all.map(([, y]) => y), 1) * 1.1
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const sx = (x: number) => M.left + (x / xMax) * pw
  const sy = axes.logY ? (y: number) => M.top + ph - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph : (y: number) => M.top + ph - (y / yMax) * ph
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="20" font-size="13">${escape(title)}</text>`,
    `<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="black"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">${escape(axes.xLabel)}</text>`,
    `<text x="16" y="${M.top + ph / 2}" transform="rotate(-90 16 ${M.top + ph / 2})" text-anchor="middle">${escape(axes.yLabel)}</text>`,
  ]
  // At most about 8 labelled ticks, on 1-2-5 steps.
  const raw = xMax / 8
  const mag = Math.pow(10, Math.floor(Math.log10(raw)))
  const xStep = mag * (raw / mag > 5 ? 10 : raw / mag > 2 ? 5 : raw / mag > 1 ? 2 : 1)
  for (let x = 0; x <= xMax; x += xStep) {
    out.push(`<line x1="${sx(x)}" y1="${M.top + ph}" x2="${sx(x)}" y2="${M.top + ph + 5}" stroke="black"/>`, `<text x="${sx(x)}" y="${M.top + ph + 18}" text-anchor="middle">${Math.round(x)}</text>`)
  }
  const yTicks: number[] = []
  if (axes.logY) {
    for (let e = Math.floor(Math.log10(yMin)); e <= Math.ceil(Math.log10(yMax)); e++) for (const m of [1, 2, 5]) yTicks.push(m * Math.pow(10, e))
  } else {
    const rawY = yMax / 6
    const magY = Math.pow(10, Math.floor(Math.log10(rawY)))
    const yStep = magY * (rawY / magY > 5 ? 10 : rawY / magY > 2 ? 5 : rawY / magY > 1 ? 2 : 1)
    for (let y = 0; y <= yMax; y += yStep) yTicks.push(y)
  }
  for (const y of yTicks) {
    if (y < yMin || y > yMax || (axes.logY && y <= 0)) continue
    out.push(`<line x1="${M.left}" y1="${sy(y)}" x2="${M.left + pw}" y2="${sy(y)}" stroke="#ddd"/>`, `<text x="${M.left - 6}" y="${sy(y) + 4}" text-anchor="end">${y}</text>`)
  }
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]
    const dash = s.name.endsWith('p99') ? ' stroke-dasharray="6 4"' : ''
    const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(Math.max(y, yMin)).toFixed(1)}`).join(' ')
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${dash} points="${pts}"/>`)
    // Dense series (a time line) without a dot per point.
    if (s.points.length <= 40) for (const [x, y] of s.points) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(Math.max(y, yMin)).toFixed(1)}" r="3" fill="${colour}"/>`)
    const ly = M.top + 10 + i * 20
    out.push(`<line x1="${W - M.right + 15}" y1="${ly}" x2="${W - M.right + 45}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`, `<text x="${W - M.right + 52}" y="${ly + 4}">${escape(s.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
