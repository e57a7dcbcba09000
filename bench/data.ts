/** @module The input files, made by the CLI's own generator, with the true unique count it reports kept beside them. */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export type DataFormat = 'ndjson' | 'json'

export interface DataSet {
  format: DataFormat
  path: string
  bytes: number
  count: number
  /** Unique events, as `generate` reported them: the answer every dedup contender must reproduce. */
  unique: number
}

export const DUP_RATE = 0.2
export const SEED = 42

interface Meta {
  count: number
  unique: number
  bytes: number
}

const GENERATED = /generated (\d+) events: unique (\d+), duplicates (\d+)/

function readMeta(path: string): Meta | null {
  try {
    const meta = JSON.parse(readFileSync(`${path}.meta.json`, 'utf8')) as Partial<Meta>
    if (typeof meta.count !== 'number' || typeof meta.unique !== 'number' || typeof meta.bytes !== 'number') return null
    return { count: meta.count, unique: meta.unique, bytes: meta.bytes }
  } catch {
    return null
  }
}

/** Runs `generate` into a temporary file, renamed into place only when it succeeded: a killed run never leaves a half file that looks complete. */
async function generate(root: string, path: string, format: DataFormat, count: number, seed: number): Promise<Meta> {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  const args = ['bin/kion-dedup.js', 'generate', '--count', String(count), '--dup-rate', String(DUP_RATE), '--seed', String(seed), '--format', format]
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', fd, 'pipe'] })
  closeSync(fd)
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const status = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve(code ?? 1))
  })
  const m = GENERATED.exec(stderr)
  if (status !== 0 || !m) {
    rmSync(tmp, { force: true })
    throw new Error(`kion-dedup generate failed (status ${status}): ${stderr.trim()}`)
  }
  if (Number(m[1]) !== count) throw new Error(`generate wrote ${m[1]} events, asked for ${count}`)
  renameSync(tmp, path)
  const meta: Meta = { count, unique: Number(m[2]), bytes: statSync(path).size }
  writeFileSync(`${path}.meta.json`, JSON.stringify(meta) + '\n')
  return meta
}

/** One file for `count` events, generated when missing or when its recorded size no longer matches. */
async function ensureOne(root: string, dir: string, format: DataFormat, count: number, log: (s: string) => void, seed = SEED): Promise<DataSet> {
  const path = join(dir, `events-n${count}-d${DUP_RATE}-s${seed}.${format}`)
  let meta = readMeta(path)
  if (meta === null || meta.count !== count || !existsSync(path) || statSync(path).size !== meta.bytes) {
    log(`generating ${path} (${count} events)...`)
    meta = await generate(root, path, format, count, seed)
  }
  return { format, path, bytes: meta.bytes, count, unique: meta.unique }
}

export async function ensureData(root: string, count: number, log: (s: string) => void): Promise<Record<DataFormat, DataSet>> {
  const dir = join(root, 'bench', 'data')
  mkdirSync(dir, { recursive: true })
  const ndjson = await ensureOne(root, dir, 'ndjson', count, log)
  const json = await ensureOne(root, dir, 'json', count, log)
  // Same seed, same events: the two formats must agree, or every check below would be against the wrong answer.
  if (ndjson.unique !== json.unique) throw new Error(`generate disagrees with itself: ndjson unique ${ndjson.unique}, json unique ${json.unique}`)
  return { ndjson, json }
}

/** NDJSON only, with its own seed: events no other file of another seed holds (the Kafka load test sends each stage new events). */
export async function ensureNdjson(root: string, count: number, seed: number, log: (s: string) => void): Promise<DataSet> {
  const dir = join(root, 'bench', 'data')
  mkdirSync(dir, { recursive: true })
  return ensureOne(root, dir, 'ndjson', count, log, seed)
}
