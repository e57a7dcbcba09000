/** @module Runs `kion-dedup replay ... --json` (the built CLI) and parses its summary: the load tests' one way to fire requests. */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = join(fileURLToPath(new URL('../../', import.meta.url)), 'bin', 'kion-dedup.js')

export function replayJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'replay', ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out) as T)
      } catch {
        reject(new Error(`replay exited ${code}: ${out}`))
      }
    })
  })
}
