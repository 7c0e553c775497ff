import { PGlite } from '@electric-sql/pglite'

/**
 * Counts what the embedded database is asked to do, at the PostgreSQL wire protocol: every
 * message batch handed to PGlite is one round trip; every Execute ('E') of the extended protocol
 * and every simple Query ('Q') message is one statement run (BEGIN and COMMIT included), whether
 * its text was parsed just before (an unnamed statement) or once, earlier (a named prepared
 * statement, adapters/db/pglite-statements.ts). A statement parsed and never executed is not one.
 * Counting at this level sees everything the process sends, whoever sends it (Prisma's adapter, raw SQL, migrations),
 * and the counts are deterministic, unlike times.
 *
 * Installed by patching PGlite's prototype once per process; `start()` opens a window and
 * `stop()` returns what was counted in it, with the text of each statement.
 */
export type StatementCount = { statements: number; roundTrips: number; texts: string[] }

type Patched = { execProtocolRawSync(message: Uint8Array, ...rest: unknown[]): Uint8Array }
const proto = PGlite.prototype as unknown as Patched & { __statementCounter?: true }

let window: StatementCount | null = null
const decoder = new TextDecoder()
/**
 * The text of each statement parsed so far, by name ('' the unnamed one), kept outside windows too
 * (a named statement is parsed once, perhaps before the window opens); and, inside a window, the
 * text bound to each portal, which its Execute counts.
 */
const parsed = new Map<string, string>()
const bound = new Map<string, string>()

function install() {
  if (proto.__statementCounter) return
  const original = proto.execProtocolRawSync
  proto.execProtocolRawSync = function (this: Patched, message: Uint8Array, ...rest: unknown[]) {
    record(window, message)
    return original.call(this, message, ...rest)
  }
  proto.__statementCounter = true
}

/** Walks the frontend messages of one batch (type byte + int32 length each). */
function record(into: StatementCount | null, batch: Uint8Array) {
  if (into) into.roundTrips++
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength)
  const cString = (from: number) => {
    const end = batch.indexOf(0, from)
    return { text: decoder.decode(batch.subarray(from, end)), next: end + 1 }
  }
  let at = 0
  while (at + 5 <= batch.length) {
    const type = batch[at]!
    const length = view.getInt32(at + 1)
    if (type === 0x50 /* P: Parse: name\0 query\0 ... */) {
      const name = cString(at + 5)
      parsed.set(name.text, cString(name.next).text)
    } else if (type === 0x42 /* B: Bind: portal\0 statement\0 ... */ && into) {
      const portal = cString(at + 5)
      bound.set(portal.text, parsed.get(cString(portal.next).text) ?? '')
    } else if (type === 0x45 /* E: Execute: portal\0 ... */ && into) {
      into.statements++
      into.texts.push(bound.get(cString(at + 5).text) ?? '')
    } else if (type === 0x51 /* Q: Query */ && into) {
      into.statements++
      into.texts.push(decoder.decode(batch.subarray(at + 5, at + length)).replace(/\0$/, ''))
    }
    at += 1 + length
  }
}

export function statementCounter() {
  install()
  return {
    start() {
      window = { statements: 0, roundTrips: 0, texts: [] }
    },
    /** The counts since start(); counting stops. */
    stop(): StatementCount {
      const counted = window ?? { statements: 0, roundTrips: 0, texts: [] }
      window = null
      return counted
    },
    /** The counts since start(), counting on. */
    peek(): StatementCount {
      return window ? { ...window, texts: [...window.texts] } : { statements: 0, roundTrips: 0, texts: [] }
    },
  }
}
