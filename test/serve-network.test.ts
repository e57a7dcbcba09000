/** serve's network edges (issue 15, item 16): token, TLS, exposure warnings, body and header timeouts, connection cap. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type Socket } from 'node:net'
import { request as httpsRequest } from 'node:https'
import { FIXTURES, ROOT, cli, tempDir } from './helpers.js'
import { serve, outputLines } from './support/serve.js'

const TOKEN = 'b3c1f0e7a9d24c6e8f1a2b3c4d5e6f70'
const CERT = join(ROOT, 'test', 'tls', 'cert.pem')
const KEY = join(ROOT, 'test', 'tls', 'key.pem')
const event = readFileSync(join(FIXTURES, 'events.ndjson'), 'utf8').split('\n')[0]

async function call(url: string, init: { method?: string; body?: string; token?: string } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  const r = await fetch(url, { method: init.method ?? 'GET', body: init.body, headers })
  return { status: r.status, text: await r.text(), headers: r.headers }
}

/** Everything a raw connection receives until the server closes it. */
function untilClosed(socket: Socket): Promise<string> {
  let got = ''
  socket.setEncoding('utf8')
  socket.on('data', (d: string) => (got += d))
  return new Promise((resolve) => socket.on('close', () => resolve(got)))
}

/** Sends `text` on a raw connection to the server at `url` and resolves with all it answers until it closes the connection. */
async function exchange(url: string, text: string): Promise<string> {
  const socket = await connected(Number(new URL(url).port))
  const got = untilClosed(socket)
  socket.write(text)
  return got
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.on('error', reject)
  })
}

test('with a token, every request but GET /health must bring it as a Bearer token: 401 otherwise, nothing of its body taken', async () => {
  const s = await serve([], undefined, { env: { ...process.env, KION_DEDUP_TOKEN: TOKEN } })
  try {
    assert.equal((await call(`${s.url}/health`)).status, 200)
    const none = await call(`${s.url}/event`, { method: 'POST', body: event })
    assert.equal(none.status, 401)
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="kion-dedup"')
    assert.match(none.text, /Authorization: Bearer/)
    assert.equal((await call(`${s.url}/event`, { method: 'POST', body: event, token: TOKEN.slice(0, -1) + '1' })).status, 401)
    assert.equal((await call(`${s.url}/event`, { method: 'POST', body: event, token: TOKEN + 'x' })).status, 401)
    assert.equal((await call(`${s.url}/ready`)).status, 401)
    assert.equal((await call(`${s.url}/metrics`)).status, 401)
    const ok = await call(`${s.url}/event`, { method: 'POST', body: event, token: TOKEN })
    assert.equal(ok.status, 200)
    assert.equal((JSON.parse(ok.text) as { status: string }).status, 'unique', 'the refused posts took nothing')
    const metrics = await call(`${s.url}/metrics`, { token: TOKEN })
    assert.match(metrics.text, /^kion_unauthorized_total 5$/m)
    assert.equal(await s.stop(), 0)
    assert.equal(outputLines(s.out).length, 1)
    assert.ok(!s.log().includes(TOKEN), 'the token is never logged')
  } finally {
    s.child.kill('SIGKILL')
  }
})

test('with a token, a client that asks before sending its body (Expect: 100-continue) is told 401, not to go on', async () => {
  const s = await serve([], undefined, { env: { ...process.env, KION_DEDUP_TOKEN: TOKEN } })
  try {
    const answer = await exchange(s.url, 'POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n')
    assert.match(answer, /^HTTP\/1\.1 401 /)
    assert.ok(!answer.includes('100 Continue'), answer)
  } finally {
    await s.stop()
  }
})

test('--token-file: the token from a file (its last newline not part of it); a short or unreadable token is refused before listening', async () => {
  const dir = tempDir()
  const file = join(dir, 'token')
  writeFileSync(file, TOKEN + '\n')
  const s = await serve(['--token-file', file])
  try {
    assert.equal((await call(`${s.url}/event`, { method: 'POST', body: event })).status, 401)
    assert.equal((await call(`${s.url}/event`, { method: 'POST', body: event, token: TOKEN })).status, 200)
  } finally {
    await s.stop()
  }
  const short = cli(['serve', '--port', '0'], undefined, { KION_DEDUP_TOKEN: 'secret' })
  assert.equal(short.status, 2)
  assert.match(short.stderr, /\$KION_DEDUP_TOKEN has 6 characters; at least 16/)
  assert.ok(!short.stderr.includes('"listening"'))
  const missing = cli(['serve', '--port', '0', '--token-file', join(dir, 'nope')])
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /cannot read --token-file .*nope: no such file/)
})

function httpsGet(url: string, path: string, token?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, url), { ca: readFileSync(CERT), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('--tls-cert/--tls-key: serve speaks HTTPS (and no plain HTTP); replay reaches it with --ca and the token', async () => {
  const env = { ...process.env, KION_DEDUP_TOKEN: TOKEN }
  const s = await serve(['--tls-cert', CERT, '--tls-key', KEY], undefined, { env, scheme: 'https' })
  try {
    assert.ok(s.url.startsWith('https://'))
    assert.deepEqual(await httpsGet(s.url, '/health'), { status: 200, text: '{"status":"ok"}' })
    assert.equal((await httpsGet(s.url, '/metrics')).status, 401)
    await assert.rejects(fetch(s.url.replace('https:', 'http:') + '/health'))
    const replay = cli(['replay', '--url', s.url, '--ca', CERT, '--count', '50', '--rps', '500', '--timeout', '60s', '--json'], undefined, { KION_DEDUP_TOKEN: TOKEN })
    assert.equal(replay.status, 0, replay.stderr)
    const result = JSON.parse(replay.stdout) as { status: Record<string, number>; correctness: { ok: boolean } }
    assert.deepEqual(result.status, { '200': 50 })
    assert.equal(result.correctness.ok, true)
    assert.match((await httpsGet(s.url, '/metrics', TOKEN)).text, /^kion_http_requests_total\{route="\/event",status="200"\} 50$/m)
  } finally {
    await s.stop()
  }
  const alone = cli(['serve', '--port', '0', '--tls-cert', CERT])
  assert.equal(alone.status, 2)
  assert.match(alone.stderr, /--tls-cert and --tls-key go together/)
  const wrong = cli(['serve', '--port', '0', '--tls-cert', KEY, '--tls-key', KEY])
  assert.equal(wrong.status, 2)
  assert.match(wrong.stderr, /--tls-cert .*key\.pem holds no PEM certificate/)
})

test('bound beyond loopback: a warning without a token, another with a token but no TLS, none with both', async () => {
  const warnings = async (args: string[], env: NodeJS.ProcessEnv, scheme: 'http' | 'https' = 'http') => {
    const s = await serve(args, undefined, { env, scheme })
    await s.stop()
    return s
      .log()
      .split('\n')
      .filter((l) => l.includes('"level":"warn"'))
      .join('\n')
  }
  const plain = { ...process.env, KION_DEDUP_TOKEN: undefined }
  const withToken = { ...process.env, KION_DEDUP_TOKEN: TOKEN }
  assert.match(await warnings(['--host', '0.0.0.0'], plain), /listening on 0\.0\.0\.0, beyond this machine, without a token/)
  assert.match(await warnings(['--host', '0.0.0.0'], withToken), /without TLS: the token and the events cross the network in clear/)
  assert.equal(await warnings(['--host', '0.0.0.0', '--tls-cert', CERT, '--tls-key', KEY], withToken, 'https'), '')
  assert.equal(await warnings([], plain), '')
})

test('--body-timeout: a body that stalls is answered 408 and its connection closed, counted in /metrics; under a second is refused', async () => {
  const s = await serve(['--body-timeout', '1s'])
  try {
    assert.match(await exchange(s.url, 'POST /event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"client_id"'), /^HTTP\/1\.1 408 [\s\S]*did not arrive within --body-timeout \(1000 ms\)/)
    assert.match((await call(`${s.url}/metrics`)).text, /^kion_body_timeouts_total 1$/m)
  } finally {
    await s.stop()
  }
  const tooShort = cli(['serve', '--port', '0', '--body-timeout', '100ms'])
  assert.equal(tooShort.status, 2)
  assert.match(tooShort.stderr, /100ms is too short/)
})

test('--header-timeout: a client that never finishes its headers is cut off', async () => {
  const s = await serve(['--header-timeout', '1s'])
  try {
    assert.match(await exchange(s.url, 'POST /event HTTP/1.1\r\nHost: x\r\n'), /^HTTP\/1\.1 408/)
  } finally {
    await s.stop()
  }
})

test('--max-connections: one connection more is closed on arrival and counted; the server serves again once one is gone', async () => {
  // Idle connections are not cut off by the header timeout while the test runs, however slow the machine.
  const s = await serve(['--max-connections', '2', '--header-timeout', '10m', '--keep-alive-timeout', '10m'])
  try {
    const port = Number(new URL(s.url).port)
    const held = [await connected(port), await connected(port)]
    const extra = await connected(port)
    assert.equal(await untilClosed(extra), '', 'closed without an answer')
    for (const socket of held) socket.destroy()
    // The server notices the two closes in its own time: ask until a connection is let in (one
    // that comes before is refused as well, and counted).
    let metrics = ''
    let refused = 0
    for (let attempt = 0; attempt < 200 && metrics === ''; attempt++) {
      metrics = await call(`${s.url}/metrics`).then(
        (r) => r.text,
        () => (refused++, ''),
      )
    }
    assert.match(metrics, new RegExp(`^kion_connections_dropped_total ${1 + refused}$`, 'm'))
    assert.match(s.log(), /a connection was refused: --max-connections are open/)
  } finally {
    await s.stop()
  }
})
