/** @module The sample event cut once into fixed bytes around the members that vary, in every spelling the generator writes. */
import { readFileSync } from 'node:fs'
import type { ByteChunks } from './byte-chunks.js'

/** The members that differ between events; every other member keeps the sample's value. */
export const VARYING = [
  'event_name',
  'event_datetime',
  'event_datetime_str',
  'event_date',
  'client_id',
  'client_id_query',
  'sid',
  'r',
  'product_id',
  'os',
  'mnf',
  'mdl',
  'price',
  'dt_add',
  'event_receive_timestamp',
  'event_receive_dt_str',
  'inserted_dt',
] as const
export type VaryingKey = (typeof VARYING)[number]

/**
 * One event's varying members, each as its JSON text. `r` is as written: a quoted string, or a
 * number spelled one way or another. The generator makes every value of digits, hex, ISO times
 * and its lists of names: nothing in them needs escaping, and none holds a '/'.
 */
export type Fields = Record<VaryingKey, string>

/** A member of the sample: its key, and its value's JSON text, or null where the event's own value goes. */
export interface Member {
  key: string
  fixedValue: string | null
}

export function sampleMembers(): Member[] {
  const sample = JSON.parse(readFileSync(new URL('../../../fixtures/sample-event.json', import.meta.url), 'utf8')) as Record<string, unknown>
  const varying = new Set<string>(VARYING)
  const members = Object.keys(sample).map((key) => ({ key, fixedValue: varying.has(key) ? null : JSON.stringify(sample[key]) }))
  // A varying member the sample lacks goes last, as it would when set on a copy of the sample.
  for (const key of VARYING) if (!(key in sample)) members.push({ key, fixedValue: null })
  return members
}

/**
 * An event's text as the fixed bytes between its varying members: writing an event is then a
 * few copies, where copying the 137-member sample and JSON.stringify-ing it took about 86 µs on
 * the bench's VM.
 */
interface Layout {
  /** One more than slots: pieces[0], fields[slots[0]], pieces[1], … */
  pieces: Buffer[]
  slots: VaryingKey[]
}

interface Style {
  open: string
  member: (key: string, value: string) => string
  separator: string
  close: string
  /** Applied to the fixed values only (the varying ones need nothing, see Fields). */
  escapeValue: (json: string) => string
}

const escapeSlashes = (json: string) => json.replaceAll('/', '\\/')

/** JSON.stringify's own spelling. */
const COMPACT: Style = { open: '{', member: (k, v) => `${JSON.stringify(k)}:${v}`, separator: ',', close: '}', escapeValue: (v) => v }
/** A database GUI's export: tabs, `"key" : value`, escaped slashes (it sits inside the export's array). */
const EXPORT: Style = { open: '\t{\n', member: (k, v) => `\t\t${JSON.stringify(k)} : ${v}`, separator: ',\n', close: '\n\t}', escapeValue: escapeSlashes }

function compile(members: readonly Member[], style: Style): Layout {
  const pieces: string[] = []
  const slots: VaryingKey[] = []
  let text = style.open
  members.forEach((m, i) => {
    if (i > 0) text += style.separator
    if (m.fixedValue !== null) {
      text += style.member(m.key, style.escapeValue(m.fixedValue))
      return
    }
    // The member's text up to its value is fixed; the value starts a new piece.
    const marker = '\u0000'
    const [before, after] = style.member(m.key, marker).split(marker)
    pieces.push(text + before)
    slots.push(m.key as VaryingKey)
    text = after
  })
  pieces.push(text + style.close)
  return { pieces: pieces.map((p) => Buffer.from(p, 'utf8')), slots }
}

/** The sample compiled once into every spelling an event or a retry is written in. */
export class EventWriter {
  private readonly compactLayout: Layout
  private readonly slashesEscaped: Layout
  private readonly exportLayout: Layout
  /** For retries written in another member order: `"key": value` of each fixed member, and `"key": ` of each varying one, in the sample's order. */
  private readonly spacedMembers: Buffer[]

  constructor(
    private readonly members: readonly Member[],
    private readonly out: ByteChunks,
  ) {
    this.compactLayout = compile(members, COMPACT)
    this.slashesEscaped = compile(members, { ...COMPACT, escapeValue: escapeSlashes })
    this.exportLayout = compile(members, EXPORT)
    this.spacedMembers = members.map((m) => Buffer.from(`${JSON.stringify(m.key)}: ${m.fixedValue ?? ''}`, 'utf8'))
  }

  /** As JSON.stringify would write it. */
  compact(fields: Fields): void {
    this.write(this.compactLayout, fields)
  }

  /** As a member of the database export's array. */
  exported(fields: Fields): void {
    this.write(this.exportLayout, fields)
  }

  /** How many members an event has: the length of an order for `reordered`. */
  get memberCount(): number {
    return this.members.length
  }

  /** In another member order (`order`: indices into the sample's order) and with spaces after ':' and ','. */
  reordered(fields: Fields, order: readonly number[]): void {
    this.out.text('{')
    order.forEach((i, n) => {
      if (n > 0) this.out.text(', ')
      this.out.bytes(this.spacedMembers[i])
      const m = this.members[i]
      if (m.fixedValue === null) this.out.text(fields[m.key as VaryingKey])
    })
    this.out.text('}')
  }

  /** Compact, with escapes a reader must undo: '/' as '\/', and the event name's first letter as a \u escape. */
  escaped(fields: Fields): void {
    const name = fields.event_name
    this.write(this.slashesEscaped, { ...fields, event_name: `"\\u${name.charCodeAt(1).toString(16).padStart(4, '0')}${name.slice(2)}` })
  }

  private write(layout: Layout, fields: Fields): void {
    this.out.bytes(layout.pieces[0])
    for (let i = 0; i < layout.slots.length; i++) {
      this.out.text(fields[layout.slots[i]])
      this.out.bytes(layout.pieces[i + 1])
    }
  }
}
