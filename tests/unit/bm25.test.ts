import { describe, expect, it } from 'vitest'
import { bm25, parseTsvector, questionPairs, refineCandidates, scoreCandidates } from '../../adapters/db/bm25.ts'

const R = { k1: 1.2, b: 0.75, candidates: 3, nearWeight: 0.5, nearWindow: 3 }

describe('BM25 over posting lists', () => {
  it("parses PostgreSQL's tsvector text: quotes, escapes, weights, lexemes without positions", () => {
    // As `SELECT 'it''s':3 ...::tsvector::text` prints them.
    const parsed = parseTsvector(`'card':2,7B 'it''s':3 'back\\\\slash':5A 'bare' 'refund':1`)
    expect([...parsed]).toEqual([
      ['card', [2, 7]],
      ["it's", [3]],
      ['back\\slash', [5]],
      ['bare', []],
      ['refund', [1]],
    ])
    expect([...parseTsvector(`'card':2 'refund':1 'other':9`, new Set(['refund']))]).toEqual([['refund', [1]]])
    expect(parseTsvector('').size).toBe(0)
  })

  it('scores each chunk by the sum of its terms and keeps the best, ties in reading order', () => {
    const lists = [
      // "refund": source a chunks 0 and 4, source b chunk 2
      { idf: 2, lists: { sources: 'a;b', ordinals: '0,4;2', tfs: '1,3;1', lengths: '10,10;40' } },
      // "card": source a chunk 4, source c chunk 1
      { idf: 1, lists: { sources: 'a;c', ordinals: '4;1', tfs: '1;1', lengths: '10;10' } },
    ]
    const avgdl = 20
    const top = scoreCandidates(lists, avgdl, R)
    expect(top.map((c) => `${c.sourceId}${c.ordinal}`)).toEqual(['a4', 'a0', 'b2'])
    expect(top[0]!.s).toBeCloseTo(bm25(R, 2, 3, 10, avgdl) + bm25(R, 1, 1, 10, avgdl), 12)
    expect(top[1]!.s).toBeCloseTo(bm25(R, 2, 1, 10, avgdl), 12)
    // A longer chunk scores lower for the same frequency (length normalisation).
    expect(top[2]!.s).toBeLessThan(top[1]!.s)
    // Equal scores keep the order the lists were read in.
    const tied = scoreCandidates([{ idf: 1, lists: { sources: 'z;y', ordinals: '5;1,2', tfs: '1;1,1', lengths: '10;10,10' } }], 10, { ...R, candidates: 2 })
    expect(tied.map((c) => `${c.sourceId}${c.ordinal}`)).toEqual(['z5', 'y1'])
  })

  it('refines candidates: common terms from their own lexemes, and a bonus for question pairs close together', () => {
    const question = parseTsvector(`'heavi':1 'parcel':2 'rate':3`)
    const pairs = questionPairs(question)
    expect([...pairs]).toEqual(['heavi parcel', 'parcel rate'])
    const terms = [
      { term: 'heavi', idf: 3, scanned: true },
      { term: 'parcel', idf: 1, scanned: false },
      { term: 'rate', idf: 2, scanned: false },
    ]
    const avgdl = 12
    const [near, far] = refineCandidates(
      [
        { id: 'near', s: 5, length: 12, tsv: `'heavi':1 'parcel':2,9 'rate':3 'appli':4` },
        { id: 'far', s: 5, length: 12, tsv: `'heavi':1 'parcel':9 'rate':20` },
      ],
      terms,
      pairs,
      avgdl,
      R,
    )
    const common = (tfParcel: number) => bm25(R, 1, tfParcel, 12, avgdl) + bm25(R, 2, 1, 12, avgdl)
    expect(near!.s).toBeCloseTo(5 + common(2) + 0.5 * ((3 + 1) / 2 + (1 + 2) / 2), 12)
    expect(far!.s).toBeCloseTo(5 + common(1), 12)
  })
})
