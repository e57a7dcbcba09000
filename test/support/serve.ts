/** `kion-dedup serve` as a child process on a free port, for the tests: start it, post to it, read its output. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { BIN, tempDir } from '../helpers.js'

export interface Served {
  url: string
  out: string
  child: ChildProcess
  log: () => string
  exited: Promise<number | null>
  /** SIGTERM; resolves with the exit status. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** `env`: the child's environment (default: this process's); `scheme`: https for a serve given --tls-cert. */
export async function serve(args: string[] = [], out = join(tempDir(), 'unique.ndjson'), { env = process.env, scheme = 'http' }: { env?: NodeJS.ProcessEnv; scheme?: 'http' | 'https' } = {}): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--out', out, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env })
  let log = ''
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      log += b.toString()
      const m = /"msg":"listening".*"port":(\d+)/.exec(log)
      if (m) resolve(Number(m[1]))
    })
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening:\n${log}`)))
  })
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    out,
    child,
    log: () => log,
    exited,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal)
      return exited
    },
  }
}

export async function post(url: string, body: string | Buffer): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const r = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': 'application/json' } })
  const text = await r.text()
  return { status: r.status, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text }, headers: r.headers }
}

export function outputLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []
}

