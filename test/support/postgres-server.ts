/**
 * A real PostgreSQL for tests and benchmarks: Debian's server binaries, a throwaway cluster
 * (initdb) in a temporary folder, the server on a free loopback port, removed afterwards.
 * Installed on a fresh machine by test/setup/ensure-postgres.sh (which `npm test` runs first).
 * As root, the cluster belongs to the `postgres` user (the server refuses to run as root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.js'
import { stopChild } from './child.js'

export const PG_USER = 'kion'
export const PG_PASSWORD = 'kion-test-pw'

/** Where initdb and postgres are: $PG_BINDIR, else the newest /usr/lib/postgresql/N/bin. */
export function pgBinDir(): string | null {
  const env = process.env.PG_BINDIR
  if (env !== undefined && existsSync(join(env, 'initdb'))) return env
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length > 0 ? join(root, versions[0], 'bin') : null
}

/** The user the server runs as: `postgres` when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root, but there is no postgres user to run the server as (install Debian\'s postgresql package)')
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) }
}

export interface PostgresServerOptions {
  /** fsync off: a test's cluster need not survive a power cut, only a process kill (the default for tests). */
  durable?: boolean
  /** More `-c name=value` settings. */
  settings?: Record<string, string>
}

export class PostgresServer {
  port = 0
  private child: ChildProcess | null = null
  readonly dir = mkdtempSync(join(tmpdir(), 'kion-pg-'))
  private readonly bin: string
  private readonly user = serverUser()
  private log = ''

  constructor(private readonly options: PostgresServerOptions = {}) {
    const bin = pgBinDir()
    if (bin === null) throw new Error('PostgreSQL server binaries not found: run test/setup/ensure-postgres.sh (npm test does)')
    this.bin = bin
  }

  get url(): string {
    return this.urlFor(PG_USER, PG_PASSWORD)
  }

  urlFor(user: string, password: string, database = 'postgres'): string {
    return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${database}`
  }

  get dataDir(): string {
    return join(this.dir, 'data')
  }

  /** Creates the cluster, then starts the server on a free port (or again on the same port after stop()/kill()). */
  async start(): Promise<this> {
    if (!existsSync(this.dataDir)) this.initdb()
    const restart = this.port !== 0
    for (let attempt = 0; ; attempt++) {
      if (!restart) this.port = await freePort()
      try {
        await this.spawn()
        return this
      } catch (e) {
        if (restart || attempt >= 4 || !/already in use|could not bind/.test(String(e))) throw e
      }
    }
  }

  private initdb(): void {
    const u = this.user
    if (u !== null) {
      chownSync(this.dir, u.uid, u.gid)
      chmodSync(this.dir, 0o700)
    }
    const pwfile = join(this.dir, 'pw')
    writeFileSync(pwfile, PG_PASSWORD + '\n')
    if (u !== null) chownSync(pwfile, u.uid, u.gid)
    const r = spawnSync(
      join(this.bin, 'initdb'),
      ['-D', this.dataDir, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { encoding: 'utf8', ...(u !== null ? { uid: u.uid, gid: u.gid } : {}), cwd: this.dir },
    )
    rmSync(pwfile, { force: true })
    if (r.status !== 0) throw new Error(`initdb failed (${r.status}) as ${u === null ? userInfo().username : 'postgres'}:\n${r.stdout}\n${r.stderr}`)
  }

  private spawn(): Promise<void> {
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      port: String(this.port),
      unix_socket_directories: this.dir,
      max_connections: '100',
      ...(this.options.durable === true ? {} : { fsync: 'off', full_page_writes: 'off' }),
      ...this.options.settings,
    }
    const args = ['-D', this.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]
    const u = this.user
    const child = spawn(join(this.bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir, ...(u !== null ? { uid: u.uid, gid: u.gid } : {}) })
    this.child = child
    // A test process that dies without disposing (a crash, a timeout) takes its servers with it.
    const reap = () => child.kill('SIGKILL')
    process.once('exit', reap)
    child.once('exit', () => process.off('exit', reap))
    return new Promise((resolve, reject) => {
      this.log = ''
      const timer = setTimeout(() => reject(new Error(`postgres did not start in 60 s:\n${this.log}`)), 60_000)
      const onData = (b: Buffer) => {
        this.log += b.toString()
        if (this.log.includes('database system is ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`postgres exited with ${code}:\n${this.log}`))
      })
    })
  }

  /** Runs SQL with psql as the cluster's superuser; returns its unaligned output. */
  psql(sql: string, database = 'postgres'): string {
    const r = spawnSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(this.port), '-U', PG_USER, '-d', database, '-c', sql], {
      encoding: 'utf8',
      env: { ...process.env, PGPASSWORD: PG_PASSWORD },
    })
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`)
    return r.stdout.trim()
  }

  /** SIGKILL: the server dies mid-whatever, as in a crash (it recovers from its WAL on start). */
  kill(): Promise<void> {
    return this.end('SIGKILL')
  }

  /** Fast shutdown (SIGINT): open transactions are rolled back, clients disconnected. */
  stop(): Promise<void> {
    return this.end('SIGINT')
  }

  private end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    this.child = null
    return stopChild(child, signal, 30_000)
  }

  /** Stops the server and removes its cluster. */
  async dispose(): Promise<void> {
    await this.end('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  return new PostgresServer(options).start()
}
