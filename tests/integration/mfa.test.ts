import { generateSync } from 'otplib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashPassword } from '../../core/security/passwords.ts'
import type { Role } from '../../core/ports.ts'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

/**
 * MFA through the HTTP API of the whole app: enrolment with a TOTP secret, sign-in with a code
 * and with a recovery code, replay refused, attempts limited, turning it off, and an organization
 * that requires it of its admins.
 */

/** The code an authenticator app shows `offsetSteps` 30-second steps from now. */
const totp = (secret: string, offsetSteps = 0) => generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 })

describe('MFA', () => {
  let t: TestApp

  beforeAll(async () => {
    t = await startTestApp()
  }, 180_000)
  afterAll(async () => t?.close())

  async function enrol(token: string) {
    const start = await api(t, '/api/v1/auth/mfa/enrol', { token, body: {} })
    expect(start.status).toBe(200)
    const usedCode = totp(start.json.secret)
    const confirm = await api(t, '/api/v1/auth/mfa/enrol/confirm', { token, body: { code: usedCode } })
    expect(confirm.status).toBe(200)
    return { secret: start.json.secret as string, recoveryCodes: confirm.json.recoveryCodes as string[], usedCode }
  }
  const login = (org: { email: string; password: string }, ip = '10.0.0.1') => api(t, '/api/v1/auth/login', { body: { email: org.email, password: org.password }, headers: { 'x-forwarded-for': ip } })
  const second = (mfaToken: string, factor: { code?: string; recoveryCode?: string }) => api(t, '/api/v1/auth/login/mfa', { body: { mfaToken, ...factor } })

  async function member(org: TestOrg, role: Role) {
    const email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`
    const password = 'another long password'
    const user = await t.app.store.users.create({ email, name: role, passwordHash: await hashPassword(password) })
    await t.app.store.users.addMembership({ organizationId: org.organizationId, userId: user.id, role })
    return { email, password, userId: user.id }
  }

  it('enrols with a QR code and a confirming code; the secret is sealed and the recovery codes hashed', async () => {
    const org = await createOrg(t, { name: 'Mfa enrol' })
    const start = await api(t, '/api/v1/auth/mfa/enrol', { token: org.token, body: {} })
    expect(start.status).toBe(200)
    expect(start.json.secret).toMatch(/^[A-Z2-7]{32}$/)
    expect(start.json.otpauthUrl).toBe(`otpauth://totp/Switchboard:${encodeURIComponent(org.email)}?secret=${start.json.secret}&issuer=Switchboard`)
    expect(start.json.qrCode).toMatch(/^data:image\/svg\+xml;base64,/)
    expect(Buffer.from(start.json.qrCode.split(',')[1], 'base64').toString()).toContain('<svg')

    const user = await t.app.db.prisma.user.findUniqueOrThrow({ where: { email: org.email } })
    expect(user.mfaEnabledAt).toBeNull()
    expect(user.mfaPendingSecret).toMatch(/^v1\./)
    expect(user.mfaPendingSecret).not.toContain(start.json.secret)

    const wrong = await api(t, '/api/v1/auth/mfa/enrol/confirm', { token: org.token, body: { code: totp(start.json.secret) === '000000' ? '111111' : '000000' } })
    expect(wrong.status).toBe(422)
    expect(wrong.json.error.code).toBe('invalid_code')
    expect((await api(t, '/api/v1/auth/mfa', { token: org.token })).json.enabled).toBe(false)

    const malformed = await api(t, '/api/v1/auth/mfa/enrol/confirm', { token: org.token, body: { code: '12ab56' } })
    expect(malformed.status).toBe(422)

    const confirm = await api(t, '/api/v1/auth/mfa/enrol/confirm', { token: org.token, body: { code: totp(start.json.secret) } })
    expect(confirm.status).toBe(200)
    const codes: string[] = confirm.json.recoveryCodes
    expect(codes).toHaveLength(10)
    expect(new Set(codes).size).toBe(10)
    for (const c of codes) expect(c).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/)

    const after = await t.app.db.prisma.user.findUniqueOrThrow({ where: { email: org.email }, include: { mfaRecoveryCodes: true } })
    expect(after.mfaEnabledAt).not.toBeNull()
    expect(after.mfaSecret).toMatch(/^v1\./)
    expect(after.mfaSecret).not.toContain(start.json.secret)
    expect(after.mfaPendingSecret).toBeNull()
    const stored = JSON.stringify(after.mfaRecoveryCodes)
    for (const c of codes) expect(stored).not.toContain(c)
    expect(after.mfaRecoveryCodes.every((r) => /^[0-9a-f]{64}$/.test(r.codeHash))).toBe(true)
    expect(t.logs.text()).not.toContain(start.json.secret)

    const status = await api(t, '/api/v1/auth/mfa', { token: org.token })
    expect(status.json).toMatchObject({ enabled: true, recoveryCodesLeft: 10, requiredByOrganization: false, enrollmentRequired: false })
    // A second enrolment while it is on is refused.
    expect((await api(t, '/api/v1/auth/mfa/enrol', { token: org.token, body: {} })).status).toBe(409)
  })

  it('signs in with a code: the password alone gives no session, a wrong or replayed code is refused', async () => {
    const org = await createOrg(t, { name: 'Mfa code' })
    const { secret, usedCode } = await enrol(org.token)

    const first = await login(org)
    expect(first.status).toBe(200)
    expect(first.json).toMatchObject({ mfaRequired: true })
    expect(first.json.token).toBeUndefined()
    expect(first.headers.get('set-cookie')).toBeNull()

    const wrongDigit = String((Number(totp(secret, 1)) + 1) % 1_000_000).padStart(6, '0')
    expect((await second(first.json.mfaToken, { code: wrongDigit })).status).toBe(401)
    // The code that confirmed the enrolment has been used: its step is spent.
    const replayed = await second(first.json.mfaToken, { code: usedCode })
    expect(replayed.status).toBe(401)
    expect(replayed.json.error.code).toBe('invalid_code')

    const next = totp(secret, 1)
    const ok = await second(first.json.mfaToken, { code: next })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('set-cookie')).toContain('sb_session=')
    expect((await api(t, '/api/v1/me', { token: ok.json.token })).json.email).toBe(org.email)

    // The same code again, even with a fresh password step, is refused.
    const again = await login(org)
    expect((await second(again.json.mfaToken, { code: next })).status).toBe(401)

    // A forged or altered challenge is refused.
    const forged = await second(`${again.json.mfaToken.slice(0, -4)}AAAA`, { code: totp(secret, 1) })
    expect(forged.status).toBe(401)
    expect(forged.json.error.code).toBe('invalid_mfa_token')
    expect((await second('x'.repeat(40), { code: '123456' })).json.error.code).toBe('invalid_mfa_token')
  })

  it('signs in with a recovery code once; it cannot be used again', async () => {
    const org = await createOrg(t, { name: 'Mfa recovery' })
    const { recoveryCodes } = await enrol(org.token)

    const first = await login(org)
    const ok = await second(first.json.mfaToken, { recoveryCode: recoveryCodes[3]!.toUpperCase() })
    expect(ok.status).toBe(200)
    expect((await api(t, '/api/v1/auth/mfa', { token: ok.json.token })).json.recoveryCodesLeft).toBe(9)

    const again = await login(org)
    const reused = await second(again.json.mfaToken, { recoveryCode: recoveryCodes[3]! })
    expect(reused.status).toBe(401)
    expect((await second(again.json.mfaToken, { recoveryCode: 'aaaa-bbbb-cccc' })).status).toBe(401)
    expect((await second(again.json.mfaToken, { recoveryCode: recoveryCodes[4]! })).status).toBe(200)
    expect((await api(t, '/api/v1/auth/mfa', { token: org.token })).json.recoveryCodesLeft).toBe(8)
  })

  it('limits code attempts per account: after 5 wrong codes in a minute even the right one gets 429', async () => {
    const org = await createOrg(t, { name: 'Mfa limit' })
    const { secret } = await enrol(org.token)
    const challenge = (await login(org, '10.0.0.9')).json.mfaToken
    const right = totp(secret, 1)
    const wrong = right === '000000' ? '111111' : '000000'
    for (let i = 0; i < 5; i++) expect((await second(challenge, { code: wrong })).status).toBe(401)
    const limited = await second(challenge, { code: right })
    expect(limited.status).toBe(429)
    expect(limited.json.error.code).toBe('too_many_attempts')
    expect(limited.headers.get('retry-after')).toBeTruthy()
  })

  it('turns off with a code (not with a wrong one); then the password signs in again', async () => {
    const org = await createOrg(t, { name: 'Mfa off' })
    const { secret } = await enrol(org.token)
    expect((await api(t, '/api/v1/auth/mfa/disable', { token: org.token, body: { code: totp(secret, 1) === '000000' ? '111111' : '000000' } })).status).toBe(422)
    expect((await api(t, '/api/v1/auth/mfa/disable', { token: org.token, body: {} })).status).toBe(422)
    expect((await api(t, '/api/v1/auth/mfa/disable', { token: org.token, body: { code: totp(secret, 1) } })).status).toBe(204)
    const user = await t.app.db.prisma.user.findUniqueOrThrow({ where: { email: org.email }, include: { mfaRecoveryCodes: true } })
    expect([user.mfaSecret, user.mfaEnabledAt, user.mfaRecoveryCodes.length]).toEqual([null, null, 0])
    const plain = await login(org)
    expect(plain.json.token).toBeTruthy()
    expect(plain.json.mfaRequired).toBeUndefined()
  })

  it('an organization can require MFA of its admins: until enrolled they reach only enrolment; operators and other organizations are not affected', async () => {
    const org = await createOrg(t, { name: 'Mfa required' })
    const other = await createOrg(t, { name: 'Mfa bystander' })
    // Turning it on needs MFA on one's own account first, and the admin role.
    const early = await api(t, '/api/v1/organization/mfa', { method: 'PUT', token: org.token, body: { requireForAdmins: true } })
    expect(early.status).toBe(409)
    await enrol(org.token)
    const operator = await member(org, 'operator')
    const operatorToken = (await login(operator)).json.token
    expect((await api(t, '/api/v1/organization/mfa', { method: 'PUT', token: operatorToken, body: { requireForAdmins: true } })).status).toBe(403)
    const on = await api(t, '/api/v1/organization/mfa', { method: 'PUT', token: org.token, body: { requireForAdmins: true } })
    expect(on.status).toBe(200)
    expect(on.json).toEqual({ requiredByOrganization: true })

    const admin = await member(org, 'admin')
    const signedIn = await login(admin)
    expect(signedIn.status).toBe(200)
    expect(signedIn.json.mfaEnrollmentRequired).toBe(true)
    const token = signedIn.json.token as string
    const blocked = await api(t, '/api/v1/agents', { token })
    expect(blocked.status).toBe(403)
    expect(blocked.json.error.code).toBe('mfa_enrollment_required')
    expect((await api(t, '/api/v1/billing', { token })).status).toBe(403)
    const me = await api(t, '/api/v1/me', { token })
    expect(me.status).toBe(200)
    expect(me.json.mfaEnrollmentRequired).toBe(true)
    expect((await api(t, '/api/v1/auth/mfa', { token })).json).toMatchObject({ enabled: false, requiredByOrganization: true, enrollmentRequired: true })

    // Operators are not admins: not gated.
    expect((await api(t, '/api/v1/agents', { token: operatorToken })).status).toBe(200)
    // Another organization's admins are not gated by this one's setting.
    expect((await api(t, '/api/v1/agents', { token: other.token })).status).toBe(200)
    expect((await api(t, '/api/v1/auth/mfa', { token: other.token })).json.requiredByOrganization).toBe(false)

    await enrol(token)
    expect((await api(t, '/api/v1/agents', { token })).status).toBe(200)
    expect((await api(t, '/api/v1/me', { token })).json.mfaEnrollmentRequired).toBeUndefined()

    // Off again: a later admin is not gated.
    expect((await api(t, '/api/v1/organization/mfa', { method: 'PUT', token: org.token, body: { requireForAdmins: false } })).status).toBe(200)
    const later = await member(org, 'admin')
    expect((await api(t, '/api/v1/agents', { token: (await login(later)).json.token })).status).toBe(200)
  }, 120_000)
})
