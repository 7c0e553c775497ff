import { randomBytes } from 'node:crypto'
import type { AgentService } from '../agents/agent-service.ts'
import type { KnowledgeService } from '../knowledge/knowledge-service.ts'
import type { Store } from '../ports.ts'
import type { AuthService } from './auth-service.ts'

export type DemoCredentials = { adminEmail: string; adminPassword: string; organizationId: string; agentId: string; webchatKey: string }
export type DemoDoc = { uri: string; title: string; content: string }

export const DEMO_EMAIL = 'admin@demo.switchboard.dev'
export const DEMO_AGENT = 'Switchboard guide'
const DEMO_INSTRUCTIONS = 'You are the Switchboard guide. Answer questions about installing, configuring and running Switchboard from its documentation.'

/**
 * The demo workspace made on first start: organization "Demo", an admin, and the agent
 * "Switchboard guide" whose knowledge is the project's own docs. Later starts reuse it and only
 * re-import docs that changed.
 */
export async function ensureDemoWorkspace(deps: {
  store: Store
  auth: AuthService
  agents: AgentService
  knowledge: KnowledgeService
  docs: DemoDoc[]
  saved: DemoCredentials | null
}): Promise<{ credentials: DemoCredentials; created: boolean; queued: string[] }> {
  const { store } = deps
  let credentials = deps.saved
  let created = false
  const valid =
    credentials &&
    (await store.users.findByEmail(credentials.adminEmail)) &&
    (await store.agents.get(credentials.organizationId, credentials.agentId)) &&
    (await store.inboxes.findByPublicKey(credentials.webchatKey))
  if (!valid) {
    const adminPassword = randomBytes(12).toString('base64url')
    const existing = await store.users.findByEmail(DEMO_EMAIL)
    const adminEmail = existing ? `admin+${randomBytes(3).toString('hex')}@demo.switchboard.dev` : DEMO_EMAIL
    const { organization } = await deps.auth.createOrganizationWithOwner({ organizationName: 'Demo', email: adminEmail, name: 'Demo admin', password: adminPassword })
    const { agent, webchat } = await deps.agents.createFor(organization.id, { name: DEMO_AGENT, instructions: DEMO_INSTRUCTIONS })
    credentials = { adminEmail, adminPassword, organizationId: organization.id, agentId: agent.id, webchatKey: webchat.publicKey! }
    created = true
  }
  const queued: string[] = []
  for (const doc of deps.docs) {
    const before = await store.knowledge.findSourceByUri(credentials!.organizationId, doc.uri)
    const source = await deps.knowledge.addSource({ organizationId: credentials!.organizationId, agentId: credentials!.agentId, title: doc.title, kind: 'markdown', content: doc.content, uri: doc.uri })
    if (!before || before.checksum !== source.checksum || source.status !== 'ready') queued.push(source.id)
  }
  return { credentials: credentials!, created, queued }
}
