/** @module What the numbers were measured on: they mean little without it. */
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'

export interface Machine {
  cpu: string
  cores: number
  memoryBytes: number
  node: string
  date: string
}

function cpuModel(): string {
  try {
    // /proc/cpuinfo names the model even where os.cpus() reports an empty or generic one (some VMs).
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) return m[1].trim()
  } catch {
    // Not Linux: fall through.
  }
  return cpus()[0]?.model ?? 'unknown CPU'
}

export function describeMachine(): Machine {
  return {
    cpu: cpuModel(),
    cores: cpus().length,
    memoryBytes: totalmem(),
    node: process.version,
    date: new Date().toISOString(),
  }
}

export function machineLine(m: Machine): string {
  return `machine: ${m.cpu}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, node ${m.node}, ${m.date}`
}
