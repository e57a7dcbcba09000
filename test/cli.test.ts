import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { BIN, cli, cliAsync, tempDir, FIXTURES } from './helpers.js'

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { files: string[]; read: number; unique: number; duplicate: number }

test('the committed fixtures give the promised counts in all three formats, keyed inline or on threads', () => {
  const outputs: string[][] = []
  for (const [file, threads] of expected.files.flatMap((f) => [[f, '0'], [f, '2']])) {
    const dir = tempDir()
    const stats = join(dir, 'stats.json')
    const r = cli([join(FIXTURES, file), '--stats-json', stats, '--threads', threads])
    assert.equal(r.status, 0, r.stderr)
    const s = JSON.parse(readFileSync(stats, 'utf8'))
    assert.deepEqual([s.read, s.unique, s.duplicate, s.rejected], [expected.read, expected.unique, expected.duplicate, 0], file)
    assert.equal(r.lines.length, expected.unique)
    assert.match(r.stderr, new RegExp(`read ${expected.read}, unique ${expected.unique}, duplicate ${expected.duplicate}, rejected 0`))
    outputs.push(r.lines.map((l) => JSON.stringify(JSON.parse(l))))
  }
  // Every format and thread count yields the same events (as values) in the same order.
  for (const out of outputs) assert.deepEqual(out, outputs[0])
})

test('NDJSON passes through byte for byte, first occurrences in input order', () => {
  const input = readFileSync(join(FIXTURES, 'events.ndjson'), 'utf8')
  const r = cli([], input)
  assert.equal(r.status, 0)
  const inputLines = input.split('\n').filter((l) => l)
  let at = 0
  for (const line of r.lines) {
    while (at < inputLines.length && inputLines[at] !== line) at++
    assert.ok(at < inputLines.length, 'an output line is an input line, in order')
    at++
  }
  assert.equal(new Set(r.lines).size, r.lines.length)
})

test('array elements are output as their own text, compacted, parsing to the same value', () => {
  const r = cli([join(FIXTURES, 'events.export.json')])
  const first = JSON.parse(readFileSync(join(FIXTURES, 'events.export.json'), 'utf8').replace(/^[^[]*/, '').replace(/\}\s*$/, '').trim().replace(/\]$/, ']'))[0]
  assert.deepEqual(JSON.parse(r.lines[0]), first)
  assert.ok(r.lines[0].includes('\\/'), 'the \\/ escapes are kept as written')
})

test('duplicates are reported with position, key and first occurrence; --report writes NDJSON records', () => {
  const input = '{"client_id":"c","event_datetime":"t","event_name":"e","product_id":"p","sid":"s","r":"1"}\n' + '{"r":"1","sid":"s","product_id":"p","event_name":"e","event_datetime":"t","client_id":"c","dt_add":"later"}\n'
  const text = cli([], input)
  assert.equal(text.lines.length, 1)
  assert.match(text.stderr, /duplicate -:2 event #2 key [0-9a-f]{32}: first seen as event #1 \(-\)/)
  const dir = tempDir()
  const report = join(dir, 'report.ndjson')
  const rec = cli(['--report', report], input)
  assert.equal(rec.status, 0)
  const records = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(records.length, 1)
  const secondLineOffset = input.indexOf('\n') + 1
  assert.deepEqual({ ...records[0], key: 'k' }, { type: 'duplicate', source: '-', line: 2, index: 2, offset: secondLineOffset, event: 2, key: 'k', first_seen: { event: 1, source: '-' } })
})

const GOOD = (r: string) => `{"client_id":"c","event_datetime":"t","event_name":"e","product_id":"p","sid":"s","r":"${r}"}`

test('rejects: reasons with positions, the stream goes on, --rejects keeps each input verbatim, --strict fails', () => {
  const bad = ['{"client_id":"c"', '[1,2]', '{"client_id":"c","event_datetime":"t","event_name":"e","product_id":"p","sid":"s"}', '{"client_id":{"x":1},"event_datetime":"t","event_name":"e","product_id":"p","sid":"s","r":"2"}']
  const input = [GOOD('1'), ...bad, GOOD('3')].join('\n') + '\n'
  const dir = tempDir()
  const rejects = join(dir, 'rejects.ndjson')
  const r = cli(['--rejects', rejects], input)
  assert.equal(r.status, 0, 'rejects alone do not fail the run')
  assert.equal(r.lines.length, 2)
  assert.match(r.stderr, /rejected 4/)
  assert.match(r.stderr, /-:2 .*unexpected end of input/)
  assert.match(r.stderr, /-:3 .*not a JSON object/)
  assert.match(r.stderr, /-:4 .*key field "r" is missing/)
  assert.match(r.stderr, /-:5 .*key field "client_id" holds an object/)
  const records = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(records.map((x) => x.input), bad)
  assert.deepEqual(records.map((x) => x.line), [2, 3, 4, 5])
  assert.equal(cli(['--strict'], input).status, 3)
  assert.equal(cli(['--allow-missing'], GOOD('1').replace(',"r":"1"', '') + '\n').lines.length, 1)
})

test('exit statuses: usage 2, missing file 1, broken structure 1 with its position, --help and --version 0', () => {
  const usage = cli(['--window', '7x'])
  assert.equal(usage.status, 2)
  assert.match(usage.stderr, /expected a duration such as 7d/)
  assert.equal(cli(['--format', 'xml']).status, 2)
  for (const where of [['--report', '/nonexistent/r.ndjson'], ['--rejects', '/nonexistent/x.ndjson'], ['-o', '/nonexistent/u.ndjson']]) {
    const r = cli([...where, join(FIXTURES, 'events.ndjson')])
    assert.equal(r.status, 1, where.join(' '))
    assert.match(r.stderr, /^kion-dedup: no such file: \/nonexistent\//)
    assert.equal(r.stdout, '')
  }
  const missing = cli(['/nonexistent/events.ndjson'])
  assert.equal(missing.status, 1)
  assert.match(missing.stderr, /no such file: \/nonexistent\/events.ndjson/)
  assert.equal(missing.stdout, '')
  const statsDir = tempDir()
  const broken = cli(['--stats-json', join(statsDir, 's.json')], `[${GOOD('1')} ${GOOD('2')}]`)
  assert.equal(broken.status, 1)
  const partial = JSON.parse(readFileSync(join(statsDir, 's.json'), 'utf8'))
  assert.equal(partial.unique, 1)
  assert.match(partial.stopped, /^error: -: byte \d+: expected ','/)
  const at = 1 + GOOD('1').length + 1
  assert.ok(broken.stderr.includes(`-: byte ${at}: expected ',' or ']' after array element 1, found '{'`), broken.stderr)
  assert.equal(broken.lines.length, 1, 'what came before the break is still output')
  assert.equal(cli(['--help']).status, 0)
  assert.match(cli(['--help']).stdout, /Examples:/)
  assert.match(cli(['generate', '--help']).stdout, /--dup-rate/)
  assert.match(cli(['--version']).stdout, /^\d+\.\d+\.\d+/)
})

test('several files are one stream; - is stdin; .gz is read transparently', () => {
  const dir = tempDir()
  const a = join(dir, 'a.ndjson')
  const b = join(dir, 'b.ndjson.gz')
  writeFileSync(a, GOOD('1') + '\n' + GOOD('2') + '\n')
  writeFileSync(b, gzipSync(GOOD('2') + '\n' + GOOD('3') + '\n'))
  const r = cli([a, '-', b], GOOD('1') + '\n' + GOOD('4') + '\n')
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(r.lines.map((l) => JSON.parse(l).r), ['1', '2', '4', '3'])
  assert.match(r.stderr, /first seen as event #1 \(.*a\.ndjson\)/)
  const cut = join(dir, 'cut.ndjson.gz')
  writeFileSync(cut, gzipSync(readFileSync(join(FIXTURES, 'events.ndjson'))).subarray(0, 20000))
  const truncated = cli([cut])
  assert.equal(truncated.status, 1)
  assert.match(truncated.stderr, /cut\.ndjson\.gz: gzip: unexpected end of file/)
  assert.ok(truncated.lines.length > 0, 'what was read before the damage is output')
})

test('--state carries remembered keys from one run to the next; a corrupt state file fails before any output', () => {
  const dir = tempDir()
  const state = join(dir, 'cron.state')
  const one = cli(['--state', state], GOOD('1') + '\n' + GOOD('2') + '\n')
  assert.equal(one.lines.length, 2)
  assert.ok(existsSync(state))
  const two = cli(['--state', state], GOOD('2') + '\n' + GOOD('3') + '\n')
  assert.deepEqual(two.lines.map((l) => JSON.parse(l).r), ['3'])
  assert.match(two.stderr, /first seen in an earlier run \(--state\)/)
  const report = join(dir, 'r.ndjson')
  cli(['--state', state, '--report', report], GOOD('1') + '\n')
  assert.deepEqual(JSON.parse(readFileSync(report, 'utf8')).first_seen, { earlier_run: true })
  const unrecorded = cli(['--no-first-seen'], GOOD('1') + '\n' + GOOD('1') + '\n')
  assert.match(unrecorded.stderr, /first occurrence not recorded/)
  writeFileSync(state, readFileSync(state).subarray(0, 50))
  const bad = cli(['--state', state], GOOD('4') + '\n')
  assert.equal(bad.status, 1)
  assert.equal(bad.stdout, '')
  assert.match(bad.stderr, /state file .* is (truncated|corrupt)/)
})

test('--clock event measures the window by the event time field', () => {
  const at = (r: string, iso: string) => `{"client_id":"c","event_datetime":"${iso}","event_name":"e","product_id":"p","sid":"s","r":"${r}"}`
  const lines = [at('1', '2025-04-01T00:00:00Z'), at('1', '2025-04-01T00:00:00Z'), at('2', '2025-04-20T00:00:00Z'), at('x', 'not a time')]
  const r = cli(['--clock', 'event', '--window', '1d'], lines.join('\n') + '\n')
  assert.equal(r.lines.length, 2)
  assert.match(r.stderr, /cannot parse time field "event_datetime"/)
  assert.match(r.stderr, /duplicate 1, rejected 1/)
})

test('--emit-key adds the digest; --key changes what counts', () => {
  const r = cli(['--emit-key'], GOOD('1') + '\n')
  const out = JSON.parse(r.lines[0])
  assert.match(out._key, /^[0-9a-f]{32}$/)
  const byClient = cli(['--key', 'client_id'], GOOD('1') + '\n' + GOOD('2') + '\n')
  assert.equal(byClient.lines.length, 1)
})

test('output for machines stays clean: no colour or progress in pipes', () => {
  const r = cli([join(FIXTURES, 'events.ndjson')], undefined, { FORCE_COLOR: '1' })
  assert.ok(!r.stderr.includes('\u001b['), 'no escape codes on a non-TTY stderr')
  assert.ok(!r.stdout.includes('\u001b['))
})

test('a reader that goes away (| head) ends the run cleanly', async () => {
  const child = cliAsync([join(FIXTURES, 'events.ndjson')])
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
  child.stdout.destroy()
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  assert.equal(status, 0, stderr)
  assert.ok(!/Error|EPIPE/.test(stderr), stderr)
})

test('SIGTERM mid-stream: what was read is output, the state is saved, exit 143', async () => {
  const dir = tempDir()
  const state = join(dir, 'sig.state')
  const child = cliAsync(['--state', state, '-'])
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stdin.write(GOOD('1') + '\n' + GOOD('2') + '\n')
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
  child.kill('SIGTERM')
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  assert.equal(status, 143)
  assert.equal(out.trim().split('\n').length, 2)
  const again = cli(['--state', state], GOOD('2') + '\n' + GOOD('5') + '\n')
  assert.deepEqual(again.lines.map((l) => JSON.parse(l).r), ['5'])
})

test('generate: same seed, same bytes; the unique count it states is what dedup finds, in every format', () => {
  const a = cli(['generate', '--count', '500', '--dup-rate', '0.3', '--seed', '9'])
  const b = cli(['generate', '--count', '500', '--dup-rate', '0.3', '--seed', '9'])
  assert.equal(a.stdout, b.stdout)
  const stated = Number(/unique (\d+)/.exec(a.stderr)?.[1])
  assert.ok(stated > 300 && stated < 500, a.stderr)
  for (const format of ['ndjson', 'json', 'export']) {
    const data = cli(['generate', '--count', '500', '--dup-rate', '0.3', '--seed', '9', '--format', format]).stdout
    const r = cli(['--quiet'], data)
    assert.equal(r.lines.length, stated, format)
  }
})

test('generate: the committed fixtures are what their made_with command writes, byte for byte', () => {
  // fixtures/expected.json: "kion-dedup generate --count 200 --dup-rate 0.25 --seed 7 --format ndjson|json|export"
  for (const [format, file] of [['ndjson', 'events.ndjson'], ['json', 'events.json'], ['export', 'events.export.json']]) {
    const r = cli(['generate', '--count', '200', '--dup-rate', '0.25', '--seed', '7', '--format', format])
    assert.equal(r.status, 0, r.stderr)
    assert.ok(r.stdout === readFileSync(join(FIXTURES, file), 'utf8'), `${file} differs from generate --format ${format}`)
    assert.match(r.stderr, new RegExp(`unique ${expected.unique}, duplicates ${expected.duplicate}`))
  }
})

test('generate into a reader that goes away ends cleanly', async () => {
  const child = cliAsync(['generate', '--count', '100000'])
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
  child.stdout.destroy()
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  assert.equal(status, 0)
})

test('--approx: Bloom filters instead of the exact store; no --state with it', () => {
  const dir = tempDir()
  const stats = join(dir, 's.json')
  const r = cli(['--approx', '--fp-rate', '0.001', '--stats-json', stats, join(FIXTURES, 'events.ndjson')])
  assert.equal(r.status, 0, r.stderr)
  const s = JSON.parse(readFileSync(stats, 'utf8'))
  assert.equal(s.store.backend, 'approx')
  assert.equal(s.read, expected.read)
  // Every repeat is caught; a unique event may be lost only at the stated rate (none here).
  assert.equal(s.unique, expected.unique)
  const both = cli(['--approx', '--state', join(dir, 'x.state')], GOOD('1') + '\n')
  assert.equal(both.status, 2)
  assert.match(both.stderr, /--state works with the exact store only/)
  assert.equal(cli(['--approx', '--fp-rate', '0']).status, 2)
})

test('events that are not UTF-8 are rejected, in NDJSON, JSON arrays and serve alike: two such events never share a key (issue 15, item 10)', async () => {
  const event = (bad: number) => Buffer.concat([Buffer.from('{"client_id":"u","event_datetime":"d","event_name":"e","product_id":"p","sid":"s","r":"'), Buffer.from([bad]), Buffer.from('\\n"}')])
  const ndjson = Buffer.concat([event(0xff), Buffer.from('\n'), event(0xfe), Buffer.from('\n')])
  const array = Buffer.concat([Buffer.from('['), event(0xff), Buffer.from(','), event(0xfe), Buffer.from(']')])
  for (const input of [ndjson, array]) {
    const r = cli(['-'], input)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /read 2, unique 0, duplicate 0, rejected 2/)
    assert.match(r.stderr, /invalid JSON: not UTF-8 \(byte 0xff\)/)
  }
  const { serve, post } = await import('./support/serve.js')
  const s = await serve()
  try {
    for (const bad of [0xff, 0xfe]) {
      const answer = await post(`${s.url}/event`, event(bad))
      assert.equal(answer.status, 400)
      assert.match(String(answer.json.error), /not UTF-8/)
    }
  } finally {
    await s.stop()
  }
})

test('--help names the program as users type it, lists every other command, and shows the defaults of consume --to and replay --duration (issue 15, item 3)', () => {
  const help = cli(['--help']).stdout
  assert.match(help, /^Usage: kion-dedup \[options\] \[files\.\.\.\]$/m)
  assert.doesNotMatch(help, /kion-dedup dedup/)
  for (const command of ['serve', 'consume', 'replay', 'generate']) assert.match(help, new RegExp(`kion-dedup ${command} --help`))
  assert.match(cli(['consume', '--help']).stdout.replace(/\s+/g, ' '), /--to <target> .*\(default: kafka; out with --out\)/)
  assert.match(cli(['replay', '--help']).stdout.replace(/\s+/g, ' '), /--duration <duration> .*\(default: 10s, or with --find-max the --step\)/)
})

test('a directory as input is named in the error; sizes of 0 and durations under 1 ms are refused as option values (issue 15, items 5 and 18)', () => {
  const dir = tempDir()
  const r = cli([dir])
  assert.equal(r.status, 1)
  assert.equal(r.stderr, `kion-dedup: ${dir}: is a directory, not a file of events\n`)
  const body = cli(['serve', '--max-body', '0'])
  assert.equal(body.status, 2)
  assert.match(body.stderr, /--max-body.*a size of 0 bytes would refuse every event/)
  const window = cli(['--window', '0.0001ms', join(FIXTURES, 'events.ndjson')])
  assert.equal(window.status, 2)
  assert.match(window.stderr, /--window.*at least 1ms, got "0\.0001ms"/)
  assert.equal(window.stdout, '')
})

test('a --state that cannot be saved (no such folder, a directory) stops the CLI and serve at start, before any output (issue 15, item 13)', async () => {
  const dir = tempDir()
  for (const [state, why] of [['/nonexistent/week.state', /cannot create the state lock/], [dir, /is a directory, not a state file/]] as const) {
    const r = cli(['--state', state, join(FIXTURES, 'events.ndjson')])
    assert.equal(r.status, 1, r.stderr)
    assert.equal(r.stdout, '', 'no event delivered before the failure')
    assert.match(r.stderr, why)
    const s = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--state', state], { encoding: 'utf8', timeout: 60_000 })
    assert.equal(s.status, 1, s.stderr)
    assert.match(s.stderr, why)
    assert.doesNotMatch(s.stderr, /"msg":"listening"/)
  }
})

test('with --state, output closed by its reader (| head) says so on stderr with how far it got, and leaves the state as it was (issue 15, item 7)', async () => {
  const dir = tempDir()
  const state = join(dir, 'week.state')
  const input = cli(['generate', '--count', '20000', '--seed', '4']).stdout
  const child = cliAsync(['--state', state, '-q', '-'])
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  child.stdin.on('error', () => {})
  child.stdin.end(input)
  // The reader takes the first line, then goes away, as `head -1` does.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
  child.stdout.destroy()
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(status, 0)
  assert.match(stderr, new RegExp(`output closed by its reader after \\d+ unique events \\(of \\d+ read\\); ${state.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} left as it was \\(not saved\\)`))
  assert.equal(existsSync(state), false)
})

test('a full disk (ENOSPC, /dev/full) names the output it could not write: -o FILE, or stdout (issue 15, item 14)', () => {
  const toFile = cli(['-q', join(FIXTURES, 'events.ndjson'), '-o', '/dev/full'])
  assert.equal(toFile.status, 1)
  assert.match(toFile.stderr, /^kion-dedup: \/dev\/full: ENOSPC: no space left on device/m)
  // The report too: its write failed after the run's last event, and the run ended 0 without a word.
  const report = cli(['-q', join(FIXTURES, 'events.ndjson'), '--report', '/dev/full', '-o', join(tempDir(), 'u.ndjson')])
  assert.equal(report.status, 1)
  assert.match(report.stderr, /^kion-dedup: \/dev\/full: ENOSPC: no space left on device/m)
  const full = openSync('/dev/full', 'w')
  try {
    const r = spawnSync(process.execPath, [BIN, '-q', join(FIXTURES, 'events.ndjson')], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /^kion-dedup: stdout: ENOSPC: no space left on device/m)
  } finally {
    closeSync(full)
  }
})

test('generate into a full disk fails naming stdout (it ended 0 without a word); a reader that goes away is a normal end', () => {
  const full = openSync('/dev/full', 'w')
  try {
    const r = spawnSync(process.execPath, [BIN, 'generate', '--count', '1000'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /^kion-dedup: stdout: ENOSPC: no space left on device/m)
    assert.doesNotMatch(r.stderr, /generated 1000 events/)
  } finally {
    closeSync(full)
  }
  // `| head -c 100`: the shell closes the pipe after 100 bytes; generate stops there with 0.
  const head = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" generate --count 100000 | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' })
  assert.equal(head.stdout.trim(), '0', head.stderr)
})

test('a bare kion-dedup on a terminal says it reads stdin (on stderr, only on a TTY: never into a pipe) (issue 15, item 4)', () => {
  const script = join(FIXTURES, '..', 'test', 'support', 'pty-run.py')
  const r = spawnSync('python3', [script, 'reading events from stdin', process.execPath, BIN], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /kion-dedup: reading events from stdin \(end with Ctrl-D/)
  assert.match(r.stdout, /read 0, unique 0/)
  assert.match(r.stdout, /EXIT 0/)
  const piped = cli(['-'], '')
  assert.doesNotMatch(piped.stderr, /reading events from stdin/)
})

test('a JSON array cut short, in a file or on stdin: each element read once, the cut one rejected once, exit 1 naming where (issue 15, item 6)', () => {
  const full = readFileSync(join(FIXTURES, 'events.json'))
  // One element a line: the k-th element (1-based) is line k + 1, ending with ',' but the last.
  const lineStarts = [0]
  for (let i = full.indexOf(10); i >= 0; i = full.indexOf(10, i + 1)) lineStarts.push(i + 1)
  const element = (k: number) => ({ start: lineStarts[k], end: lineStarts[k + 1] - 1 - (full[lineStarts[k + 1] - 2] === 0x2c ? 1 : 0) })
  const inside = (k: number, text: string) => full.indexOf(text, element(k).start) + text.length
  const cuts: Array<[string, number]> = [
    ['the issue: head -c 500000', 500000],
    ['mid-string', inside(7, '"event_name":"a')],
    ['mid-number', inside(9, '"event_receive_timestamp":174')],
    ['after a comma', element(12).end + 1],
    ['after the last element, no ]', element(200).end],
    ['before the first element', 2],
  ]
  const dir = tempDir()
  for (const [what, cut] of cuts) {
    const bytes = full.subarray(0, cut)
    // What came whole before the cut, as a well-formed array: the events the cut run must deliver.
    let whole = 0
    while (whole < 200 && element(whole + 1).end <= cut) whole++
    const cutInside = whole < 200 && element(whole + 1).start < cut
    const closed = whole === 0 ? Buffer.from('[]') : Buffer.concat([full.subarray(0, element(whole).end), Buffer.from('\n]\n')])
    const reference = cli(['-', '--stats-json', join(dir, 'ref.json')], closed)
    assert.equal(reference.status, 0, reference.stderr)
    const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8')) as { read: number; unique: number; duplicate: number; rejected: number }
    assert.equal(ref.read, whole)
    const file = join(dir, 't.json')
    writeFileSync(file, bytes)
    for (const [name, args, input] of [[file, [file], undefined], ['-', ['-'], bytes]] as const) {
      const stats = join(dir, 'stats.json')
      const rejects = join(dir, 'rejects.ndjson')
      const r = cli([...args, '--stats-json', stats, '--rejects', rejects], input)
      const at = `${what}, ${name === '-' ? 'stdin' : 'file'}`
      assert.equal(r.status, 1, `${at}: ${r.stderr}`)
      assert.deepEqual(r.lines, reference.lines, `${at}: the whole elements' events are delivered`)
      const s = JSON.parse(readFileSync(stats, 'utf8')) as { read: number; unique: number; duplicate: number; rejected: number; stopped: string }
      assert.deepEqual([s.read, s.unique, s.duplicate, s.rejected], [ref.read + (cutInside ? 1 : 0), ref.unique, ref.duplicate, cutInside ? 1 : 0], at)
      assert.equal(s.read, s.unique + s.duplicate + s.rejected, at)
      const where = cutInside ? `inside element ${whole + 1}` : whole === 0 ? 'before its first element' : cut > element(whole).end ? `after the ',' following element ${whole}` : `after element ${whole}`
      const error = `${name}: byte ${cut}: input ended inside an array, ${where} (missing ']')`
      assert.equal(s.stopped, `error: ${error}`, at)
      assert.ok(r.stderr.includes(`kion-dedup: ${error}\n`), `${at}: ${r.stderr}`)
      const records = existsSync(rejects) ? readFileSync(rejects, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) : []
      if (!cutInside) {
        assert.equal(records.length, 0, at)
        continue
      }
      const begin = element(whole + 1).start
      assert.equal(records.length, 1, at)
      assert.deepEqual([records[0].index, records[0].offset, records[0].error_offset, records[0].input], [whole + 1, begin, cut, bytes.subarray(begin).toString()], at)
      assert.match(String(records[0].reason), /^invalid JSON: the input ends inside this element \(cut short\)/, at)
      assert.ok(r.stderr.includes(`rejected  ${name} [element ${whole + 1}, byte ${begin}] event #${whole + 1}: invalid JSON: the input ends inside this element (cut short)`), `${at}: ${r.stderr}`)
    }
  }
})

test('an over-nested element in the middle or at the end of a JSON array is one reject; the elements after it are delivered (issue 15, item 6)', () => {
  const deep = `{"client_id":"c","d":${'['.repeat(600)}"],{"${']'.repeat(600)}}`
  for (const [what, elements] of [
    ['middle', [GOOD('1'), deep, GOOD('2'), GOOD('3')]],
    ['end', [GOOD('1'), GOOD('2'), deep]],
  ] as const) {
    const input = `[\n${elements.join(',\n')}\n]\n`
    for (const threads of ['0', '2']) {
      const r = cli(['-', '--threads', threads], input)
      assert.equal(r.status, 0, r.stderr)
      assert.deepEqual(r.lines, elements.filter((e) => e !== deep), what)
      assert.match(r.stderr, new RegExp(`read ${elements.length}, unique ${elements.length - 1}, duplicate 0, rejected 1\\n`), what)
      const index = elements.indexOf(deep) + 1
      assert.match(r.stderr, new RegExp(`rejected  - \\[element ${index}, byte \\d+\\] event #${index}: invalid JSON: nesting deeper than 512`), what)
    }
  }
})
