import { z } from 'zod'

/*
 * The shapes of Kommo's answers that Switchboard reads. API v4 answers lists in HAL
 * (`application/hal+json`): `{ _page?, _links, _embedded: { <entity>: [...] } }`, and errors as
 * problem JSON (`application/problem+json`: `{ title, type, status, detail }`). Objects are loose
 * (unknown keys kept): Kommo adds fields over time, and a new one must not break a call. Only
 * the fields Switchboard uses are required. Sources, the amoCRM documentation (the same API under
 * kommo.com; mirror github.com/biradrags/amo-docs, amocrm_docs_md/...):
 * - account: crm_platform/account-info.md (GET /api/v4/account?with=amojo_id);
 * - pipelines and statuses: crm_platform/leads_pipelines.md (GET /api/v4/leads/pipelines);
 * - users: crm_platform/users-api.md (GET /api/v4/users);
 * - custom fields: crm_platform/custom-fields.md (GET /api/v4/{entity}/custom_fields);
 * - contacts: crm_platform/contacts-api.md (GET and POST /api/v4/contacts);
 * - leads: crm_platform/leads-api.md (GET /api/v4/leads/{id}?with=contacts, POST /api/v4/leads/complex);
 * - notes: crm_platform/events-and-notes.md (POST /api/v4/{entity}/notes);
 * - tasks: crm_platform/tasks-api.md (POST /api/v4/tasks);
 * - webhooks: crm_platform/webhooks-api.md (GET and POST /api/v4/webhooks);
 * - tokens: oauth/step-by-step.md and https://developers.kommo.com/reference/get-token;
 * - errors: crm_platform/error-codes.md ("validation-errors"); the OAuth problem JSON with its
 *   `hint` as quoted in github.com/amocrm/amocrm-api-php issues #123, #235, #315.
 */

const id = z.number().int()
/** `request_id`: the caller's own id of an item in a batch, or its index when none was given; a string in the documentation, a number tolerated. */
const requestId = z.union([z.string(), z.number()]).transform(String)

/** An account's subdomain, the `{subdomain}` of `https://{subdomain}.kommo.com` (a DNS label: it becomes part of the host). */
export const subdomainSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i, 'not a Kommo subdomain')

/** GET /api/v4/account (`amojo_id` only with `?with=amojo_id`; the Chats API's account id). */
export const accountSchema = z.looseObject({
  id,
  name: z.string(),
  subdomain: z.string(),
  amojo_id: z.string().optional(),
})

/** A stage of a pipeline. `type` 1 is "Unsorted"; ids 142 (won) and 143 (lost) close a lead in every pipeline. */
export const statusSchema = z.looseObject({
  id,
  name: z.string(),
  sort: z.number().optional(),
  pipeline_id: id.optional(),
  type: z.number().optional(),
  color: z.string().optional(),
  is_editable: z.boolean().optional(),
})

export const pipelineSchema = z.looseObject({
  id,
  name: z.string(),
  sort: z.number().optional(),
  is_main: z.boolean().optional(),
  is_archive: z.boolean().optional(),
  _embedded: z.looseObject({ statuses: z.array(statusSchema) }),
})

/** GET /api/v4/leads/pipelines (at most 50 pipelines, all in one answer). */
export const pipelinesSchema = z.looseObject({ _embedded: z.looseObject({ pipelines: z.array(pipelineSchema) }) })

export const userSchema = z.looseObject({
  id,
  name: z.string(),
  email: z.string().nullish(),
})

/** GET /api/v4/users (paged: `_page`, `_page_count`). */
export const usersSchema = z.looseObject({
  _page: z.number().optional(),
  _page_count: z.number().optional(),
  _embedded: z.looseObject({ users: z.array(userSchema) }),
})

/** One choice of a list field; for PHONE and EMAIL `value` is the enum code (WORK, MOB, ...). */
export const enumSchema = z.looseObject({ id, value: z.string(), sort: z.number().optional() })

/** A custom field: `code` is set on predefined fields (PHONE, EMAIL, POSITION...); `enums` on list fields, null elsewhere. */
export const customFieldSchema = z.looseObject({
  id,
  name: z.string(),
  code: z.string().nullish(),
  type: z.string(),
  enums: z.array(enumSchema).nullish(),
})

/** GET /api/v4/{leads|contacts|companies}/custom_fields (paged). */
export const customFieldsSchema = z.looseObject({
  _page: z.number().optional(),
  _page_count: z.number().optional(),
  _embedded: z.looseObject({ custom_fields: z.array(customFieldSchema) }),
})

/** A value of a custom field on an entity (`custom_fields_values[]`). */
export const fieldValueSchema = z.looseObject({
  field_id: id,
  field_name: z.string().nullish(),
  field_code: z.string().nullish(),
  field_type: z.string().nullish(),
  values: z.array(z.looseObject({ value: z.unknown().optional(), enum_id: id.nullish(), enum_code: z.string().nullish(), enum: z.string().nullish() })),
})

export const contactSchema = z.looseObject({
  id,
  name: z.string().nullish(),
  first_name: z.string().nullish(),
  last_name: z.string().nullish(),
  responsible_user_id: id.nullish(),
  custom_fields_values: z.array(fieldValueSchema).nullish(),
  _embedded: z.looseObject({ leads: z.array(z.looseObject({ id })).optional() }).optional(),
})

/** GET /api/v4/contacts (`?query=` searches; nothing found is 204, which the client returns as null). */
export const contactsSchema = z.looseObject({
  _page: z.number().optional(),
  _embedded: z.looseObject({ contacts: z.array(contactSchema) }),
})

/** POST /api/v4/contacts: the ids of the contacts made, each with its `request_id`. */
export const contactsCreatedSchema = z.looseObject({
  _embedded: z.looseObject({ contacts: z.array(z.looseObject({ id, request_id: requestId.optional() })) }),
})

/**
 * POST /api/v4/leads/complex: a plain array (not HAL), one item per lead. `merged` is true when
 * duplicate control merged it into an existing lead; `request_id` is an array in the documentation
 * (several ids when duplicates in one batch became one lead), normalized here to an array.
 */
export const complexLeadSchema = z.looseObject({
  id,
  contact_id: id.nullish(),
  company_id: id.nullish(),
  request_id: z.union([z.array(requestId), requestId.transform((r) => [r])]).optional(),
  merged: z.boolean().optional(),
})
export const complexLeadsSchema = z.array(complexLeadSchema)

/** GET /api/v4/leads/{id} (`?with=contacts` fills `_embedded.contacts`). */
export const leadSchema = z.looseObject({
  id,
  name: z.string(),
  price: z.number().nullish(),
  status_id: id,
  pipeline_id: id,
  responsible_user_id: id,
  custom_fields_values: z.array(fieldValueSchema).nullish(),
  _embedded: z
    .looseObject({
      contacts: z.array(z.looseObject({ id, is_main: z.boolean().optional() })).optional(),
      companies: z.array(z.looseObject({ id })).optional(),
    })
    .optional(),
})

/** GET /api/v4/leads (paged). */
export const leadsSchema = z.looseObject({
  _page: z.number().optional(),
  _embedded: z.looseObject({ leads: z.array(leadSchema) }),
})

/** POST /api/v4/{entity}/notes. */
export const notesCreatedSchema = z.looseObject({
  _embedded: z.looseObject({ notes: z.array(z.looseObject({ id, entity_id: id.optional(), request_id: requestId.optional() })) }),
})

/** POST /api/v4/tasks. */
export const tasksCreatedSchema = z.looseObject({
  _embedded: z.looseObject({ tasks: z.array(z.looseObject({ id, request_id: requestId.optional() })) }),
})

/** A CRM webhook: the answer of POST /api/v4/webhooks, and an item of the list. */
export const webhookSchema = z.looseObject({
  id: id.optional(),
  destination: z.string(),
  disabled: z.boolean().optional(),
  settings: z.array(z.string()),
})

/** GET /api/v4/webhooks (`?filter[destination]=` for one address). */
export const webhooksSchema = z.looseObject({ _embedded: z.looseObject({ webhooks: z.array(webhookSchema) }) })

/** POST /oauth2/access_token: `expires_in` in seconds (86400); `server_time` a Unix timestamp. */
export const tokenResponseSchema = z.looseObject({
  token_type: z.string(),
  expires_in: z.number().positive(),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  server_time: z.number().optional(),
})

/** One refused field of one item: `path` like `custom_fields_values.0.field_id`. */
export const validationItemSchema = z.looseObject({ code: z.string().optional(), path: z.string().optional(), detail: z.string().optional() })

/**
 * A 400 with the items Kommo refused:
 * `{ "validation-errors": [{ request_id, errors: [{ code, path, detail }] }], title, type, status, detail }`.
 */
export const validationErrorSchema = z.looseObject({
  'validation-errors': z.array(z.looseObject({ request_id: requestId.optional(), errors: z.array(validationItemSchema).optional() })),
  title: z.string().optional(),
  type: z.string().optional(),
  status: z.number().optional(),
  detail: z.string().optional(),
})

/**
 * Problem JSON, of the API and of oauth2/access_token. The OAuth one adds a `hint`, e.g.
 * `{ "hint": "Token has been revoked", "title": "...", "type": ".../OAuthProblemJson", "status": 401, "detail": "..." }`
 * for a refresh token used twice.
 */
export const problemSchema = z.looseObject({
  title: z.string().optional(),
  type: z.string().optional(),
  status: z.number().optional(),
  detail: z.string().optional(),
  hint: z.string().optional(),
})

export type KommoAccount = z.infer<typeof accountSchema>
export type KommoPipeline = z.infer<typeof pipelineSchema>
export type KommoStatus = z.infer<typeof statusSchema>
export type KommoUser = z.infer<typeof userSchema>
export type KommoCustomField = z.infer<typeof customFieldSchema>
export type KommoContact = z.infer<typeof contactSchema>
export type KommoComplexLead = z.infer<typeof complexLeadSchema>
export type KommoLead = z.infer<typeof leadSchema>
export type KommoWebhook = z.infer<typeof webhookSchema>
export type KommoTokenResponse = z.infer<typeof tokenResponseSchema>
export type KommoProblem = z.infer<typeof problemSchema>
