import { describe, expect, it } from 'vitest'
import {
  accountSchema,
  complexLeadsSchema,
  contactsCreatedSchema,
  customFieldsSchema,
  leadSchema,
  notesCreatedSchema,
  problemSchema,
  subdomainSchema,
  tasksCreatedSchema,
  tokenResponseSchema,
  validationErrorSchema,
  webhooksSchema,
} from '../../adapters/kommo/schemas.ts'

// Answers as the amoCRM documentation shows them (github.com/biradrags/amo-docs, amocrm_docs_md/crm_platform/...), trimmed.
describe('Kommo answer schemas', () => {
  it('reads the account, with amojo_id when asked for it', () => {
    const account = accountSchema.parse({ id: 1231414, name: 'example', subdomain: 'example', current_user_id: 581651, country: 'RU', amojo_id: 'f3c6340d-410e-4ad1-9f7e-c5e663599909' })
    expect(account).toMatchObject({ id: 1231414, subdomain: 'example', amojo_id: 'f3c6340d-410e-4ad1-9f7e-c5e663599909', country: 'RU' })
    expect(accountSchema.parse({ id: 1, name: 'x', subdomain: 'x' }).amojo_id).toBeUndefined()
  })

  it('reads custom fields whose code and enums may be null (custom-fields.md)', () => {
    const fields = customFieldsSchema.parse({
      _total_items: 2,
      _embedded: {
        custom_fields: [
          { id: 4439091, name: 'Text', sort: 504, type: 'text', is_predefined: false, settings: null, enums: null },
          { id: 3, name: 'Телефон', type: 'multitext', code: 'PHONE', enums: [{ id: 1, value: 'WORK', sort: 2 }, { id: 5, value: 'MOB', sort: 6 }] },
        ],
      },
    })
    expect(fields._embedded.custom_fields.find((f) => f.code === 'PHONE')?.enums?.map((e) => e.value)).toEqual(['WORK', 'MOB'])
  })

  it('reads leads/complex as a plain array and normalizes request_id to an array (leads-api.md)', () => {
    const items = complexLeadsSchema.parse([
      { id: 15198335, contact_id: 19663157, company_id: 19663155, request_id: ['qweasd'], merged: false },
      { id: 15198337, contact_id: 19663161, company_id: null, request_id: 'uns_qweasd', merged: true },
    ])
    expect(items.map((i) => i.request_id)).toEqual([['qweasd'], ['uns_qweasd']])
    expect(items[1]).toMatchObject({ company_id: null, merged: true })
  })

  it('reads a lead with its contacts', () => {
    const lead = leadSchema.parse({ id: 19619, name: 'Deal', price: 46333, responsible_user_id: 123321, status_id: 142, pipeline_id: 1300, _embedded: { tags: [], contacts: [{ id: 7, is_main: true }] } })
    expect(lead._embedded?.contacts).toEqual([{ id: 7, is_main: true }])
    expect(() => leadSchema.parse({ id: 1, name: 'x', status_id: 1, pipeline_id: 1 })).toThrow()
  })

  it('reads what POST answers for contacts, notes and tasks, and the webhooks list', () => {
    expect(contactsCreatedSchema.parse({ _embedded: { contacts: [{ id: 40401635, request_id: '0' }] } })._embedded.contacts[0]).toMatchObject({ id: 40401635, request_id: '0' })
    expect(notesCreatedSchema.parse({ _embedded: { notes: [{ id: 76787983, entity_id: 167353, request_id: 0 }] } })._embedded.notes[0]!.request_id).toBe('0')
    expect(tasksCreatedSchema.parse({ _embedded: { tasks: [{ id: 4745251, request_id: 'example' }] } })._embedded.tasks[0]!.id).toBe(4745251)
    const hooks = webhooksSchema.parse({ _total_items: 1, _embedded: { webhooks: [{ id: 839656, destination: 'https://webhook-uri.com', disabled: false, settings: ['add_task'] }] } })
    expect(hooks._embedded.webhooks[0]!.settings).toEqual(['add_task'])
  })

  it('reads the token answer and the error shapes', () => {
    expect(tokenResponseSchema.parse({ token_type: 'Bearer', expires_in: 86400, server_time: 1751621727, access_token: 'a', refresh_token: 'r' }).expires_in).toBe(86400)
    expect(() => tokenResponseSchema.parse({ token_type: 'Bearer', expires_in: 86400, access_token: 'a' })).toThrow()
    const invalid = validationErrorSchema.parse({
      'validation-errors': [{ request_id: '0', errors: [{ code: 'NotSupportedChoice', path: 'custom_fields_values.0.field_id', detail: 'The value you selected is not a valid choice.' }] }],
      title: 'Bad Request',
      type: 'https://httpstatus.es/400',
      status: 400,
      detail: 'Request validation failed',
    })
    expect(invalid['validation-errors'][0]!.errors![0]!.path).toBe('custom_fields_values.0.field_id')
    expect(problemSchema.parse({ hint: 'Token has been revoked', title: 'Некорректный запрос', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson', status: 401 }).hint).toBe('Token has been revoked')
  })

  it('accepts subdomains that are host labels only', () => {
    for (const ok of ['acme', 'acme-2', 'a1']) expect(subdomainSchema.safeParse(ok).success).toBe(true)
    for (const bad of ['', '-acme', 'acme-', 'a.b', 'acme/x', 'a'.repeat(64)]) expect(subdomainSchema.safeParse(bad).success).toBe(false)
  })
})
