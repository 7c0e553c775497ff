/**
 * The lexical half of knowledge search, computed in the adapter from what the database hands
 * over: BM25 over posting lists, then the candidates' own lexemes for the terms too common to
 * scan and for the proximity bonus. PGlite evaluates SQL expressions about twenty times slower
 * than this code does, so the database only reads (posting lists, candidates' tsvectors, the
 * vector index) and this module scores.
 */

/** The ranking settings this module uses (a subset of knowledge-store's RANKING). */
export type Bm25Settings = { k1: number; b: number; candidates: number; nearWeight: number; nearWindow: number }

/** A question lexeme known to the organization: its idf, and whether its postings were read. */
export type Term = { term: string; idf: number; scanned: boolean }

/**
 * One term's posting lists as the database sends them: the sources separated by ';', and per
 * source its chunks' ordinals, term frequencies and lengths, each list comma-separated in the
 * same order (`sources` "s1;s2", `ordinals` "0,4;7", `tfs` "1,2;1", `lengths` "40,52;38").
 */
export type PostingLists = { sources: string; ordinals: string; tfs: string; lengths: string }

export type Candidate = { sourceId: string; ordinal: number; s: number }

/** One term's BM25 contribution. */
export const bm25 = (R: Bm25Settings, idf: number, tf: number, length: number, avgdl: number) => (idf * tf * (R.k1 + 1)) / (tf + R.k1 * (1 - R.b + (R.b * length) / avgdl))

const CHUNK_KEY = 2 ** 20 // ordinals stay below this: a source holds far fewer chunks

/** BM25 over the posting lists read: the best `R.candidates` chunks by the sum of their terms' scores. */
export function scoreCandidates(lists: { idf: number; lists: PostingLists }[], avgdl: number, R: Bm25Settings): Candidate[] {
  const sourceIds: string[] = []
  const sourceNumber = new Map<string, number>()
  // Chunk key (source number * CHUNK_KEY + ordinal) -> slot in keys/scores.
  const slots = new Map<number, number>()
  const keys: number[] = []
  const scores: number[] = []
  for (const { idf, lists: l } of lists) {
    const ordinals = new IntReader(l.ordinals)
    const tfs = new IntReader(l.tfs)
    const lengths = new IntReader(l.lengths)
    for (const sourceId of l.sources.split(';')) {
      let n = sourceNumber.get(sourceId)
      if (n === undefined) sourceNumber.set(sourceId, (n = sourceIds.push(sourceId) - 1))
      do {
        const key = n * CHUNK_KEY + ordinals.next()
        const s = bm25(R, idf, tfs.next(), lengths.next(), avgdl)
        const slot = slots.get(key)
        if (slot === undefined) {
          slots.set(key, keys.length)
          keys.push(key)
          scores.push(s)
        } else scores[slot]! += s
      } while (!ordinals.endOfList())
    }
  }
  // The score of the last candidate kept (a typed-array sort is native and fast), then the best
  // first; equal scores in the order the lists were read (the database's, stable for an index).
  const sorted = Float64Array.from(scores).sort()
  const threshold = sorted[Math.max(0, sorted.length - R.candidates)] ?? 0
  const order: number[] = []
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= threshold) order.push(i)
  order.sort((a, b) => scores[b]! - scores[a]! || a - b)
  return order.slice(0, R.candidates).map((i) => ({ sourceId: sourceIds[Math.floor(keys[i]! / CHUNK_KEY)]!, ordinal: keys[i]! % CHUNK_KEY, s: scores[i]! }))
}

/** Reads the non-negative integers of "1,2,3;4,5" in order; endOfList() is true after the last one of a list. */
class IntReader {
  private at = 0
  private separator = 0
  constructor(private readonly text: string) {}
  next(): number {
    let value = 0
    let c = this.text.charCodeAt(this.at)
    while (c >= 48 && c <= 57) {
      value = value * 10 + c - 48
      c = this.text.charCodeAt(++this.at)
    }
    this.separator = c
    this.at++
    return value
  }
  endOfList(): boolean {
    return this.separator !== 44 // not ','
  }
}

/**
 * The lexemes of a tsvector's text form (`'lexem':1,4B 'other' 'it''s':2`) with their positions;
 * only those in `keep` when given. A lexeme without positions has none (and counts once).
 */
export function parseTsvector(text: string, keep?: Set<string>): Map<string, number[]> {
  const out = new Map<string, number[]>()
  let i = 0
  while (i < text.length) {
    if (text[i] !== "'") {
      i++
      continue
    }
    let lexeme = ''
    for (i++; i < text.length; i++) {
      const c = text[i]!
      if (c === '\\') lexeme += text[++i] ?? ''
      else if (c === "'") {
        if (text[i + 1] === "'") {
          lexeme += "'"
          i++
        } else break
      } else lexeme += c
    }
    i++ // the closing quote
    const positions: number[] = []
    if (text[i] === ':') {
      i++
      let value = 0
      for (; i < text.length && text[i] !== ' '; i++) {
        const c = text.charCodeAt(i)
        if (c >= 48 && c <= 57) value = value * 10 + c - 48
        else if (c === 44) {
          positions.push(value)
          value = 0
        } // a weight letter (A-D) ends a position and is skipped
      }
      positions.push(value)
    }
    if (!keep || keep.has(lexeme)) out.set(lexeme, positions)
  }
  return out
}

/** Every occurrence of the lexemes, in text order. */
const inPositionOrder = (lexemes: Map<string, number[]>) =>
  [...lexemes].flatMap(([lexeme, positions]) => positions.map((p) => ({ lexeme, p }))).sort((a, b) => a.p - b.p || (a.lexeme < b.lexeme ? -1 : 1))

/** Pairs of different lexemes next to each other in the question, in order. */
export function questionPairs(question: Map<string, number[]>): Set<string> {
  const byPosition = inPositionOrder(question)
  const pairs = new Set<string>()
  for (let i = 0; i + 1 < byPosition.length; i++) if (byPosition[i]!.lexeme !== byPosition[i + 1]!.lexeme) pairs.add(`${byPosition[i]!.lexeme} ${byPosition[i + 1]!.lexeme}`)
  return pairs
}

export type Refined = { id: string; s: number }

/**
 * The candidates' final lexical scores: their scanned BM25 (`s`), plus the BM25 of the terms too
 * common to scan, from the candidate's own lexemes, plus `nearWeight` times the mean idf of each
 * question pair found in order within `nearWindow` positions.
 */
export function refineCandidates(
  candidates: { id: string; s: number; length: number; tsv: string }[],
  terms: Term[],
  pairs: Set<string>,
  avgdl: number,
  R: Bm25Settings,
): Refined[] {
  const byTerm = new Map(terms.map((t) => [t.term, t]))
  const keep = new Set(byTerm.keys())
  return candidates.map((c) => {
    const lexemes = parseTsvector(c.tsv, keep)
    let s = c.s
    for (const [lexeme, positions] of lexemes) {
      const term = byTerm.get(lexeme)!
      if (!term.scanned) s += bm25(R, term.idf, Math.max(positions.length, 1), c.length, avgdl)
    }
    if (pairs.size) {
      const byPosition = inPositionOrder(lexemes)
      const found = new Set<string>()
      for (let i = 0; i + 1 < byPosition.length; i++) {
        const a = byPosition[i]!
        const b = byPosition[i + 1]!
        const pair = `${a.lexeme} ${b.lexeme}`
        if (b.p - a.p <= R.nearWindow && pairs.has(pair) && !found.has(pair)) {
          found.add(pair)
          s += (R.nearWeight * (byTerm.get(a.lexeme)!.idf + byTerm.get(b.lexeme)!.idf)) / 2
        }
      }
    }
    return { id: c.id, s }
  })
}
