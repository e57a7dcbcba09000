/**
 * @module CPU time of processes from /proc (Linux), for saying which process limits a load test:
 * utime + stime of every live descendant of this process, grouped by what it is (the broker, Redis,
 * PostgreSQL and its backends, serve, the workers, ...), sampled while a stage runs.
 */
import { readdirSync, readFileSync } from 'node:fs'

/** CLK_TCK is 100 on Linux. */
export const TICK_MS = 10

interface Proc {
  pid: number
  ppid: number
  /** utime + stime, in ticks. */
  ticks: number
  /** Ticks of waited-for children (cutime + cstime). */
  childTicks: number
}

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { pid, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]) }
  } catch {
    // The process ended between readdir and read.
    return null
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
  } catch {
    return ''
  }
}

/** What a descendant is, from its command line; a PostgreSQL backend is named by its postmaster's. */
export type Classify = (cmd: string) => string | null

export const classifyPipeline: Classify = (cmd) => {
  if (/\bjava\b/.test(cmd) || cmd.includes('kafka.Kafka')) return 'broker'
  if (cmd.includes('redis-server')) return 'redis'
  if (cmd.startsWith('postgres') || cmd.includes('/bin/postgres')) return 'postgres'
  if (cmd.includes('kion-dedup.js serve')) return 'serve'
  if (cmd.includes('kion-dedup.js consume')) return 'workers'
  if (cmd.includes('kion-dedup.js replay')) return 'replay'
  return null
}

/** Every live descendant of `root`, with the group it belongs to (a child inherits its parent's group when its own is unknown). */
function descendants(root: number, classify: Classify): Map<number, { group: string; ticks: number; cmd: string }> {
  const procs = new Map<number, Proc>()
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    const r = readProc(Number(p))
    if (r !== null) procs.set(r.pid, r)
  }
  const children = new Map<number, number[]>()
  for (const p of procs.values()) {
    const list = children.get(p.ppid) ?? []
    list.push(p.pid)
    children.set(p.ppid, list)
  }
  const out = new Map<number, { group: string; ticks: number; cmd: string }>()
  const walk = (pid: number, inherited: string) => {
    for (const c of children.get(pid) ?? []) {
      const cmd = cmdline(c)
      // A zombie (exited, not yet reaped) has no command line; its CPU goes to its parent's
      // children's ticks once reaped (replay's, counted as replay): counting it here would count it twice.
      if (cmd === '') continue
      const group = classify(cmd) ?? inherited
      out.set(c, { group, ticks: procs.get(c)!.ticks, cmd })
      walk(c, group)
    }
  }
  walk(root, 'other')
  return out
}

/**
 * Samples the descendants' CPU every `everyMs` until stop(): per group, CPU ms used between start
 * and stop (a process that exits meanwhile counts up to its last sample). This process itself is
 * `harness`; a child it reaped meanwhile (replay, in the load tests) counts whole, as `replay`.
 */
export function sampleCpu(classify: Classify = classifyPipeline, everyMs = 500): { stop(): Promise<{ wallMs: number; cpuMs: Record<string, number>; other: string[] }> } {
  const started = Date.now()
  const first = new Map<number, { group: string; ticks: number }>()
  const last = new Map<number, { group: string; ticks: number; cmd: string }>()
  const self0 = readProc(process.pid)!
  const sample = () => {
    for (const [pid, v] of descendants(process.pid, classify)) {
      // A pid seen for the first time after the start began within the window: it counts from zero.
      if (!first.has(pid)) first.set(pid, { group: v.group, ticks: 0 })
      last.set(pid, v)
    }
  }
  // The first sample's processes count from where they stand now.
  for (const [pid, v] of descendants(process.pid, classify)) {
    first.set(pid, v)
    last.set(pid, v)
  }
  const timer = setInterval(sample, everyMs)
  return {
    async stop() {
      clearInterval(timer)
      sample()
      const self1 = readProc(process.pid)!
      const cpuMs: Record<string, number> = { harness: (self1.ticks - self0.ticks) * TICK_MS }
      for (const [pid, v] of last) {
        const f = first.get(pid)!
        cpuMs[v.group] = (cpuMs[v.group] ?? 0) + (v.ticks - f.ticks) * TICK_MS
      }
      // replay exits (and is reaped) within the window: its whole CPU shows in our children's ticks.
      const reaped = (self1.childTicks - self0.childTicks) * TICK_MS
      if (reaped > 0) cpuMs.replay = Math.max(cpuMs.replay ?? 0, reaped)
      // What was not classified, to name it.
      const other = [...last].filter(([pid, v]) => v.group === 'other' && v.ticks > first.get(pid)!.ticks).map(([pid, v]) => `${pid} ${v.cmd.slice(0, 120)}`)
      return { wallMs: Date.now() - started, cpuMs, other }
    },
  }
}

/** "postgres 92 %, workers 40 %, ..." of one core, largest first. */
export function cpuText(r: { wallMs: number; cpuMs: Record<string, number> }): string {
  return Object.entries(r.cpuMs)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([g, ms]) => `${g} ${Math.round((100 * ms) / r.wallMs)} %`)
    .join(', ')
}

/**
 * CPU ms of a process and all its descendants now, the ones that ended included (e.g. a PostgreSQL
 * postmaster and its backends: a backend that exits is reaped by the postmaster, its CPU in cutime).
 */
export function treeCpuMs(root: number): number {
  const r = readProc(root)
  let ticks = r === null ? 0 : r.ticks + r.childTicks
  for (const v of descendants(root, () => null).values()) ticks += v.ticks
  return ticks * TICK_MS
}
