/**
 * `npm run postgres`: a throwaway PostgreSQL cluster on loopback until Ctrl-C (the demo), its
 * data removed afterwards. Prints its URL on stdout. `-- --port 5432` for a fixed port.
 */
import { PG_PASSWORD, PG_USER, PostgresServer } from './postgres-server.js'

const argv = process.argv.slice(2)
const portAt = argv.indexOf('--port')
const port = portAt >= 0 ? Number(argv[portAt + 1]) : undefined
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  process.stderr.write(`postgres: --port needs a port number, got ${argv[portAt + 1]}\n`)
  process.exit(2)
}

const server = new PostgresServer({ durable: true })
if (port !== undefined) server.port = port
await server.start()
process.stdout.write(`${server.url}\n`)
process.stderr.write(`PostgreSQL (Debian's server, a throwaway cluster in ${server.dir}) on 127.0.0.1:${server.port}, user ${PG_USER}, password ${PG_PASSWORD}\nCtrl-C stops it and removes its data.\n`)
let stopping = false
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await server.stop()
  await server.dispose()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
