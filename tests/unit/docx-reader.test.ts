import { describe, expect, it } from 'vitest'
import { parseFile } from '../../adapters/files/formats.ts'
import { buildDocx, buildZip, heading, largeDocx, paragraph, type ZipEntry } from '../support/bomb-files.ts'

const W = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'
const docx = (body: string, extra: ZipEntry[] = []) => parseFile({ filename: 'test.docx', bytes: buildDocx({ body: [{ bytes: body }], extra }) })
const xml = (root: string, inner: string, namespaces = `xmlns:w="${W}"`) => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:${root} ${namespaces}>${inner}</w:${root}>`

describe('the DOCX reader reads what a person reads', () => {
  it('headings by style id or by style name make the heading path; the first Heading 1 is the title', async () => {
    const styles = xml('styles', '<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style>')
    const doc = await docx(
      heading('Ferry guide') + paragraph('Boats leave hourly.') + '<w:p><w:pPr><w:pStyle w:val="berschrift2"/></w:pPr><w:r><w:t>Winter</w:t></w:r></w:p>' + paragraph('The last boat leaves at 19:15.'),
      [{ name: 'word/styles.xml', parts: [{ bytes: styles }] }],
    )
    expect(doc).toEqual({
      title: 'Ferry guide',
      sections: [
        { text: 'Boats leave hourly.', heading: 'Ferry guide', location: { heading: 'Ferry guide' } },
        { text: 'The last boat leaves at 19:15.', heading: 'Ferry guide › Winter', location: { heading: 'Ferry guide › Winter' } },
      ],
    })
  })

  it('list items, tables with a header row, tabs, breaks and entities', async () => {
    const row = (cells: string[], header = false) => `<w:tr>${header ? '<w:trPr><w:tblHeader/></w:trPr>' : ''}${cells.map((c) => `<w:tc><w:p><w:r><w:t>${c}</w:t></w:r></w:p></w:tc>`).join('')}</w:tr>`
    const doc = await docx(
      '<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>Bikes travel free</w:t></w:r></w:p>' +
        `<w:tbl>${row(['Ticket', 'Price'], true)}${row(['Adult', '8 EUR'])}${row(['Child', ''])}</w:tbl>` +
        `<w:tbl>${row(['Pier', 'North'])}</w:tbl>` +
        '<w:p><w:r><w:t>Cash</w:t><w:tab/><w:t>&amp; cards &#x2014; no cheques</w:t><w:br/><w:t>since 2020</w:t></w:r></w:p>',
    )
    expect(doc.sections[0]!.text.split('\n\n')).toEqual(['- Bikes travel free', 'Ticket: Adult; Price: 8 EUR', 'Ticket: Child', 'Pier | North', 'Cash & cards \u2014 no cheques\nsince 2020'])
  })

  it('skips deleted text, moved-away text, field codes and the first branch of alternate content', async () => {
    const doc = await docx(
      '<w:p><w:r><w:t>Open </w:t></w:r><w:del w:id="1"><w:r><w:delText>Tuesday</w:delText></w:r></w:del><w:ins w:id="2"><w:r><w:t>daily</w:t></w:r></w:ins></w:p>' +
        '<w:p><w:moveFrom w:id="3"><w:r><w:t>moved away</w:t></w:r></w:moveFrom><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> HYPERLINK "https://x" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>the timetable</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>' +
        '<w:p><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>',
    )
    expect(doc.sections.map((s) => s.text)).toEqual(['Open daily\n\nthe timetable\n\nBoxed note'])
  })

  it('footnotes and endnotes come at the end, numbered as the text refers to them', async () => {
    const notes = (kind: string, items: [string, string][]) =>
      xml(`${kind}s`, `<w:${kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:${kind}>` + items.map(([id, text]) => `<w:${kind} w:id="${id}"><w:p><w:r><w:${kind}Ref/></w:r><w:r><w:t xml:space="preserve"> ${text}</w:t></w:r></w:p></w:${kind}>`).join(''))
    const doc = await docx('<w:p><w:r><w:t>Dogs travel free</w:t></w:r><w:r><w:footnoteReference w:id="2"/></w:r><w:r><w:t> on a lead</w:t></w:r><w:r><w:endnoteReference w:id="1"/></w:r></w:p>', [
      { name: 'word/footnotes.xml', parts: [{ bytes: notes('footnote', [['2', 'Small dogs only.'], ['5', 'Never referred to.']]) }] },
      { name: 'word/endnotes.xml', parts: [{ bytes: notes('endnote', [['1', 'Rules of 2024.']]) }] },
    ])
    expect(doc.sections.map((s) => s.text)).toEqual(['Dogs travel free[1] on a lead[2]\n\n[1] Small dogs only.\n\n[2] Rules of 2024.'])
  })

  it('finds the main document through the package relationships, with any namespace prefix', async () => {
    const rels = '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/content/main.xml"/></Relationships>'
    const main = `<?xml version="1.0"?><x:document xmlns:x="${W}"><x:body><x:p><x:r><x:t>Prefixed &lt;text&gt;</x:t></x:r></x:p></x:body></x:document>`
    const bytes = buildZip([
      { name: '_rels/.rels', parts: [{ bytes: rels }] },
      { name: 'content/main.xml', parts: [{ bytes: main }] },
    ])
    expect((await parseFile({ filename: 'odd.docx', bytes })).sections[0]!.text).toBe('Prefixed <text>')
  })

  it('a ZIP that is not a Word document, and XML with a document type, are refused as damaged', async () => {
    const notWord = buildZip([{ name: 'xl/workbook.xml', parts: [{ bytes: '<workbook/>' }] }])
    await expect(parseFile({ filename: 'sheet.docx', bytes: notWord })).rejects.toMatchObject({ status: 422, code: 'corrupt_docx', message: '"sheet.docx" is not a readable Word document: it has no word/document.xml; it is a ZIP archive but not a Word document' })
    const laughs = buildZip([{ name: 'word/document.xml', parts: [{ bytes: '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><w:document/>' }] }])
    await expect(parseFile({ filename: 'lol.docx', bytes: laughs })).rejects.toMatchObject({ status: 422, code: 'corrupt_docx', message: expect.stringContaining('declares a document type') })
  })

  it('a large legitimate document (2,000 headed sections and an image) is read whole', async () => {
    const doc = await parseFile({ filename: 'manual.docx', bytes: largeDocx({ sections: 2000, imageMb: 2 }) })
    expect(doc.title).toBe('Section 1: anchor procedures')
    expect(doc.sections).toHaveLength(2000)
    expect(doc.sections.at(-1)).toMatchObject({ heading: expect.stringMatching(/^Section 2000: /), text: expect.stringMatching(/\(1999\.3\)\.$/) })
  })
})
