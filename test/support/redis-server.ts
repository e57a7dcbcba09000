/**
 * A real redis-server for tests and benchmarks, on a free loopback port, in a temporary folder.
 * Installed on a fresh machine by test/setup/ensure-redis.sh (which `npm test` runs first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopChild } from './child.js'

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server'

export function redisServerVersion(): string | null {
  const r = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface RedisServerOptions {
  password?: string
  /** Append-only file with fsync on every write: what a restart after SIGKILL keeps. */
  persistent?: boolean
  /** More `--name value` settings. */
  args?: string[]
}

export class RedisServer {
  port = 0
  private child: ChildProcess | null = null
  readonly dir = mkdtempSync(join(tmpdir(), 'kion-redis-'))

  constructor(private readonly options: RedisServerOptions = {}) {}

  get url(): string {
    return `redis://${this.options.password !== undefined ? `:${encodeURIComponent(this.options.password)}@` : ''}127.0.0.1:${this.port}/0`
  }

  /** Starts on a free port, or again on the same port after stop()/kill(). */
  async start(): Promise<this> {
    if (redisServerVersion() === null) throw new Error(`${REDIS_SERVER} not found: run test/setup/ensure-redis.sh (npm test does)`)
    // A restart keeps its port, so that clients reconnect to it.
    const restart = this.port !== 0
    for (let attempt = 0; ; attempt++) {
      if (!restart) this.port = await freePort()
      try {
        await this.spawn()
        return this
      } catch (e) {
        // Another process took the port between our probe and redis-server's bind: try another.
        if (restart || attempt >= 4 || !/Address already in use/.test(String(e))) throw e
      }
    }
  }

  private spawn(): Promise<void> {
    const o = this.options
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--loglevel', 'notice']
    args.push('--appendonly', o.persistent ? 'yes' : 'no')
    if (o.persistent) args.push('--appendfsync', 'always')
    if (o.password !== undefined) args.push('--requirepass', o.password)
    args.push(...(o.args ?? []))
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    // A test process that dies without disposing (a crash, a timeout) takes its servers with it.
    const reap = () => child.kill('SIGKILL')
    process.once('exit', reap)
    child.once('exit', () => process.off('exit', reap))
    return new Promise((resolve, reject) => {
      let log = ''
      const timer = setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${log}`)), 10_000)
      const onData = (b: Buffer) => {
        log += b.toString()
        if (log.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}:\n${log}`))
      })
    })
  }

  /** SIGSTOP / SIGCONT: a server that hangs (connections stay open, nothing is answered), then goes on. */
  pause(): void {
    this.child?.kill('SIGSTOP')
  }

  resume(): void {
    this.child?.kill('SIGCONT')
  }

  /** SIGKILL: the server dies mid-whatever, as in a crash. */
  kill(): Promise<void> {
    return this.end('SIGKILL')
  }

  stop(): Promise<void> {
    return this.end('SIGTERM')
  }

  private end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    this.child = null
    return stopChild(child, signal)
  }

  /** Stops the server and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  return new RedisServer(options).start()
}
