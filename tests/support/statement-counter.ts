import { PGlite } from '@electric-sql/pglite'

/**
 * Counts what the embedded database is asked to do, at the PostgreSQL wire protocol: every
 * message batch handed to PGlite is one round trip; every Parse ('P') message and every simple
 * Query ('Q') message is one statement sent (BEGIN and COMMIT included). Counting at this level
 * sees everything the process sends, whoever sends it (Prisma's adapter, raw SQL, migrations),
 * and the counts are deterministic, unlike times.
 *
 * Installed by patching PGlite's prototype once per process; `start()` opens a window and
 * `stop()` returns what was counted in it, with the text of each statement.
 */
export type StatementCount = { statements: number; roundTrips: number; texts: string[] }

type Patched = { execProtocolRawSync(message: Uint8Array, ...rest: unknown[]): Uint8Array }
const proto = PGlite.prototype as unknown as Patched & { __statementCounter?: true }

let window: StatementCount | null = null

function install() {
  if (proto.__statementCounter) return
  const original = proto.execProtocolRawSync
  proto.execProtocolRawSync = function (this: Patched, message: Uint8Array, ...rest: unknown[]) {
    if (window) record(window, message)
    return original.call(this, message, ...rest)
  }
  proto.__statementCounter = true
}

/** Walks the frontend messages of one batch (type byte + int32 length each). */
function record(into: StatementCount, batch: Uint8Array) {
  into.roundTrips++
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength)
  let at = 0
  while (at + 5 <= batch.length) {
    const type = batch[at]!
    const length = view.getInt32(at + 1)
    if (type === 0x50 /* P: Parse */) {
      // name\0 query\0 ...
      const nameEnd = batch.indexOf(0, at + 5)
      const queryEnd = batch.indexOf(0, nameEnd + 1)
      into.statements++
      into.texts.push(new TextDecoder().decode(batch.subarray(nameEnd + 1, queryEnd)))
    } else if (type === 0x51 /* Q: Query */) {
      into.statements++
      into.texts.push(new TextDecoder().decode(batch.subarray(at + 5, at + length)).replace(/\0$/, ''))
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
