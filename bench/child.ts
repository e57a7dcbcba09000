/** @module Runs one contender as a child process: wall clock from here, peak RSS from GNU time. */
import { spawn } from 'node:child_process'
import { closeSync, createReadStream, existsSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const GNU_TIME = '/usr/bin/time'
export const HAVE_GNU_TIME = existsSync(GNU_TIME)

export interface ChildRun {
  seconds: number
  /** Peak resident set of the child; null without GNU time. */
  peakRssBytes: number | null
  /** User + system CPU of the child; null without GNU time. */
  cpuSeconds: number | null
  stdout: string
  /** The child's stderr (kion-dedup's summary line is read from it). */
  stderr: string
}

/** Where the child's stdout goes: discarded, into a file (to count its lines after), or captured (a baseline prints its count). */
export type StdoutTarget = { kind: 'null' } | { kind: 'file'; path: string } | { kind: 'capture' }

export class ChildFailed extends Error {}

let sequence = 0

/**
 * Spawns `argv` and waits for it. The clock runs from spawn to exit, so it includes process
 * start-up, as a user running the command would see. GNU time writes its line to a file of its
 * own (-o), so it never mixes with the child's stderr.
 */
export async function runTimed(argv: readonly string[], stdout: StdoutTarget): Promise<ChildRun> {
  const timeFile = join(tmpdir(), `kion-bench-time-${process.pid}-${sequence++}`)
  const command = HAVE_GNU_TIME ? [GNU_TIME, '-f', '%e %M %U %S', '-o', timeFile, ...argv] : [...argv]
  const outFd = stdout.kind === 'null' ? openSync('/dev/null', 'w') : stdout.kind === 'file' ? openSync(stdout.path, 'w') : null
  const started = process.hrtime.bigint()
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', outFd ?? 'pipe', 'pipe'] })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (b: Buffer) => out.push(b))
  child.stderr?.on('data', (b: Buffer) => err.push(b))
  try {
    const status = await new Promise<number>((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
    })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const stderr = Buffer.concat(err).toString('utf8')
    if (status !== 0) throw new ChildFailed(`${argv.join(' ')} exited with status ${status}\n${stderr.slice(-2000)}`)
    let peakRssBytes: number | null = null
    let cpuSeconds: number | null = null
    if (HAVE_GNU_TIME) {
      // The last line is "%e %M %U %S" (seconds, KiB, user and system seconds); earlier lines would be GNU time's own notes.
      const [, kib, user, system] = (readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number)
      if (Number.isFinite(kib)) peakRssBytes = kib * 1024
      if (Number.isFinite(user + system)) cpuSeconds = user + system
    }
    return { seconds, peakRssBytes, cpuSeconds, stdout: Buffer.concat(out).toString('utf8'), stderr }
  } finally {
    if (outFd !== null) closeSync(outFd)
    rmSync(timeFile, { force: true })
  }
}

/** Newlines in a file, streamed (outputs are hundreds of MB). */
export async function countLines(path: string): Promise<number> {
  let lines = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++
  }
  return lines
}
