/** @module serve's and replay's shared secret and TLS files: read once at start, refused with the reason. */
import { readFileSync } from 'node:fs'
import { UsageError } from './errors.js'

/** The environment variable that carries the token (`ps` shows a command line, not the environment). */
export const TOKEN_ENV = 'KION_DEDUP_TOKEN'
/** Shorter is guessable by trying: 16 characters of `openssl rand -hex 32` are 64 bits. */
export const MIN_TOKEN_CHARS = 16

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new UsageError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (e as Error).message}`)
  }
}

/** The token from --token-file, else $KION_DEDUP_TOKEN; null when neither is set. Surrounding white space (a file's last newline) is not part of it. */
export function tokenOf(tokenFile: string | undefined, env: NodeJS.ProcessEnv): string | null {
  const text = tokenFile !== undefined ? readSecretFile(tokenFile, '--token-file') : env[TOKEN_ENV]
  if (text === undefined) return null
  const token = text.trim()
  const from = tokenFile !== undefined ? `--token-file ${tokenFile}` : `$${TOKEN_ENV}`
  if (token.length < MIN_TOKEN_CHARS) throw new UsageError(`the token in ${from} has ${token.length} characters; at least ${MIN_TOKEN_CHARS} are needed (shorter ones can be guessed), e.g. from \`openssl rand -hex 32\``)
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError(`the token in ${from} holds a space, a control or a non-ASCII character: it could not travel in an Authorization header`)
  return token
}

/** Both PEM files, or neither. */
export function tlsOf(certFile: string | undefined, keyFile: string | undefined): { cert: Buffer; key: Buffer } | null {
  if (certFile === undefined && keyFile === undefined) return null
  if (certFile === undefined || keyFile === undefined) throw new UsageError('--tls-cert and --tls-key go together: the certificate and its private key')
  const cert = Buffer.from(readSecretFile(certFile, '--tls-cert'))
  const key = Buffer.from(readSecretFile(keyFile, '--tls-key'))
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--tls-cert ${certFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1'))) throw new UsageError(`--tls-key ${keyFile} holds no PEM private key`)
  return { cert, key }
}

/** A certificate authority to trust (replay --ca). */
export function caOf(file: string): Buffer {
  const ca = Buffer.from(readSecretFile(file, '--ca'))
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  return ca
}
