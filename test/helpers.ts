/** Spawning the built CLI the way users run it. */
import { spawnSync, spawn, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = join(ROOT, 'bin', 'kion-dedup.js')
export const FIXTURES = join(ROOT, 'fixtures')

export interface Run {
  status: number | null
  stdout: string
  stderr: string
  lines: string[]
}

export function cli(args: string[], input?: string | Buffer, env: Record<string, string> = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [BIN, ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '', ...env },
    maxBuffer: 256 * 1024 * 1024,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stdout.split('\n').filter((l) => l !== '') }
}

export function cliAsync(args: string[]) {
  return spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kion-e2e-'))
}
