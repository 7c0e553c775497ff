import { api, waitFor, type TestApp, type TestOrg } from './test-app.ts'

/** A knowledge source as the API shows it. */
export type Source = { id: string; title: string; status: string; progress: number; error: string | null; chunkCount: number; kind: string }

/**
 * Uploading files through the API and waiting for their indexing, for one organization of a test
 * app. `of` is read at each call, so the helpers can be made before beforeAll has started the app.
 */
export function knowledgeFiles(of: () => { t: TestApp; org: TestOrg }) {
  const upload = async (name: string, bytes: Buffer, mimeType = '') => {
    const { t, org } = of()
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(bytes)], { type: mimeType }), name)
    const res = await fetch(`${t.url}/api/v1/knowledge/files`, { method: 'POST', headers: { authorization: `Bearer ${org.token}` }, body: form })
    return { status: res.status, json: (await res.json()) as { source: Source; error: { code: string; message: string } } }
  }
  /** The source once it is ready or failed. */
  const settled = async (id: string): Promise<Source> => {
    const { t, org } = of()
    let source: Source | undefined
    await waitFor(async () => {
      source = (await api(t, `/api/v1/knowledge/sources/${id}`, { token: org.token })).json.source
      return source?.status === 'ready' || source?.status === 'failed'
    })
    return source!
  }
  const chunksOf = (sourceId: string) => of().t.app.db.prisma.knowledgeChunk.count({ where: { sourceId } })
  /** Sources and chunks of the whole database. */
  const rows = async () => {
    const { prisma } = of().t.app.db
    return { sources: await prisma.knowledgeSource.count(), chunks: await prisma.knowledgeChunk.count() }
  }
  return { upload, settled, chunksOf, rows }
}

/** The AppError a promise rejects with, as { status, code, message }; throws when it does not reject. */
export async function failure(promise: Promise<unknown>) {
  try {
    await promise
  } catch (error) {
    const e = error as { status?: number; code?: string; message: string }
    return { status: e.status, code: e.code, message: e.message }
  }
  throw new Error('expected a failure')
}
