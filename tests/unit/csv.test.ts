import { describe, expect, it } from 'vitest'
import { csvField, toCsv } from '../../admin-web/api/report-routes.ts'

describe('CSV export', () => {
  it('quotes commas, quotes and line breaks, and writes dates as ISO', () => {
    expect(toCsv(['a', 'b', 'c'], [['x,y', 'say "hi"', new Date('2026-11-30T10:00:00Z')], [null, 3, 'two\nlines']])).toBe('a,b,c\r\n"x,y","say ""hi""",2026-11-30T10:00:00.000Z\r\n,3,"two\nlines"\r\n')
  })

  it('defuses text a spreadsheet would run as a formula', () => {
    expect(csvField('=HYPERLINK("http://evil")')).toBe(`"'=HYPERLINK(""http://evil"")"`)
    expect(csvField('+1')).toBe("'+1")
    expect(csvField('-2')).toBe("'-2")
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)")
    expect(csvField(-2)).toBe("'-2")
    expect(csvField('Anna')).toBe('Anna')
  })
})
