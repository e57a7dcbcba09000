/**
 * @module Where the database is and how its failures read. The URL comes from --pg-url, else
 * $PGURL, else $DATABASE_URL; a password in it is never printed. Errors are sorted into the two
 * kinds the shells act on: the database is away for now (retry, serve answers 503) or the
 * configuration is wrong (say so and exit 1 before anything is consumed).
 */
import type { ClientConfig } from 'pg'
import { redactCredentials } from '../../redact.js'

export const DEFAULT_PG_URL = 'postgres://127.0.0.1:5432/postgres'

/** The URL a command line names: the option, else the environment. */
export function pgUrlOf(option: string | undefined, env: NodeJS.ProcessEnv): string {
  return option ?? env.PGURL ?? env.DATABASE_URL ?? DEFAULT_PG_URL
}

/** The URL with its password (if any) replaced by `***`: for every message and log line. */
export function redactPgUrl(url: string): string {
  return redactCredentials(url)
}

/** A configuration the database refuses (credentials, a missing database, a table that differs): retrying cannot help. */
export class PgConfigError extends Error {}

/** SQLSTATE classes and Node errors that mean "the database is away for now". */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '40001', '40P01'])

/** Whether an error of the driver means the database is away (or a transaction lost a race) and a retry may succeed. */
export function isTransient(e: unknown): boolean {
  if (e instanceof PgConfigError) return false
  const code = (e as { code?: unknown } | null)?.code
  if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('08'))) return true
  const message = e instanceof Error ? e.message : String(e)
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(message)
}

/** Whether a statement failed on the data of a row (bad JSON, bad encoding, a value out of range): that row goes to the rejects. */
export function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('22')
}

export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code
    return typeof code === 'string' && !e.message.includes(code) ? `${e.message} (${code})` : e.message
  }
  return String(e)
}

/** A clear sentence for a failure to connect, naming the server (never the password). */
export function describeConnectError(e: unknown, url: string): Error {
  const where = redactPgUrl(url)
  const code = (e as { code?: unknown } | null)?.code
  const text = errorText(e)
  if (code === '28P01' || code === '28000') return new PgConfigError(`PostgreSQL at ${where} refused the login: ${text}`)
  if (code === '3D000') return new PgConfigError(`PostgreSQL at ${where}: ${text}`)
  if (isTransient(e)) return Object.assign(new Error(`cannot reach PostgreSQL at ${where}: ${text}`), { code })
  return new PgConfigError(`PostgreSQL at ${where}: ${text}`)
}

/** The driver's settings for a URL: a connect timeout, and no statement left hanging forever. */
export function clientConfig(url: string, connectTimeoutMs: number): ClientConfig {
  return { connectionString: url, connectionTimeoutMillis: connectTimeoutMs, application_name: 'kion-dedup', keepAlive: true }
}
