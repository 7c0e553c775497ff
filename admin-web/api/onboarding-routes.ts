import { z } from 'zod'
import { ONBOARDING_STEPS, type OnboardingService } from '../../core/agents/onboarding.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { AppError } from '../../core/errors.ts'

const stepSchema = z.enum(ONBOARDING_STEPS)

/**
 * The first-run setup of an organization (the admin web's wizard): its state, naming the agent,
 * marking a step done or skipped, skipping or resuming the whole. Knowledge, the test question and
 * channels go through their own routes; the wizard marks the step when they succeed.
 */
export function registerOnboardingRoutes(deps: { api: ReturnType<typeof createApi>; onboarding: OnboardingService }) {
  const { api, onboarding } = deps

  api.route({
    method: 'get',
    path: '/api/v1/onboarding',
    tag: 'organization',
    summary: "The organization's first-run setup: whether to offer it, each step (done, skipped, pending), the current step, the agent it made with its web chat key",
    auth: 'session',
    handler: async ({ principal }) => ({ onboarding: await onboarding.view(principal.organizationId) }),
  })
  api.route({
    method: 'post',
    path: '/api/v1/onboarding/agent',
    tag: 'organization',
    summary: "Name the setup's agent (admin): creates it with its web chat the first time (within the plan's caps), renames it afterwards",
    auth: 'session',
    body: z.object({ name: z.string().trim().min(1).max(120) }).strict(),
    handler: async ({ principal, body }) => {
      const agent = await onboarding.forPrincipal.nameAgent(principal, body.name)
      return { agent, onboarding: await onboarding.view(principal.organizationId) }
    },
  })
  api.route({
    method: 'put',
    path: '/api/v1/onboarding/steps/:step',
    tag: 'organization',
    summary: 'Mark a step done or skipped, or pending again (admin); the setup is complete once every step is done or skipped',
    auth: 'session',
    body: z.object({ status: z.enum(['done', 'skipped', 'pending']) }).strict(),
    responses: { 404: 'No such step (agent, knowledge, test, channel)', 409: 'The step needs the agent: name it first' },
    handler: async ({ principal, params, body }) => {
      const step = stepSchema.safeParse(params.step)
      if (!step.success) throw new AppError('not_found', `No setup step "${params.step}": the steps are ${ONBOARDING_STEPS.join(', ')}`, 404)
      return { onboarding: await onboarding.forPrincipal.mark(principal, step.data, body.status) }
    },
  })
  api.route({
    method: 'put',
    path: '/api/v1/onboarding/dismissed',
    tag: 'organization',
    summary: 'Skip the whole setup (true) or bring it back to resume it (false) (admin)',
    auth: 'session',
    body: z.object({ dismissed: z.boolean() }).strict(),
    handler: async ({ principal, body }) => ({ onboarding: await onboarding.forPrincipal.dismiss(principal, body.dismissed) }),
  })
}
