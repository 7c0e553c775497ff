import { useState, type FormEvent } from 'react'
import { request, type Invitation, type Member, type Role } from '../api.ts'
import { isAdmin, type Session } from '../session.ts'
import { channelUis } from '../channels/index.ts'
import { useI18n } from '../i18n.ts'
import { Async, ConfirmButton, ErrorBox, Field, useLoad } from '../ui.tsx'

const ROLES: Role[] = ['owner', 'admin', 'operator', 'member']

/** POST /api/v1/channel-admins/link-codes */
type LinkCode = { code: string; expiresAt: string; instructions?: string }

export function Organization({ session }: { session: Session }) {
  const { t, formatDate } = useI18n()
  const me = session.me
  const admin = isAdmin(session)
  const members = useLoad((signal) => request<{ members: Member[] }>('/api/v1/members', { signal }), [])
  const invitations = useLoad((signal) => (admin ? request<{ invitations: Invitation[] }>('/api/v1/invitations', { signal }) : Promise.resolve({ invitations: [] })), [admin])
  const [error, setError] = useState<unknown>()
  const assignable = ROLES.filter((r) => r !== 'owner' || me.role === 'owner')
  const canManage = (m: Member) => admin && m.userId !== me.userId && (m.role !== 'owner' || me.role === 'owner')

  const changeRole = async (m: Member, role: Role) => {
    setError(undefined)
    try {
      await request(`/api/v1/members/${m.userId}`, { method: 'PATCH', body: { role } })
      members.reload()
    } catch (e) {
      setError(e)
    }
  }

  return (
    <>
      <h1 tabIndex={-1}>{t('organizationTitle')}</h1>
      <p className="plan-name">{me.organization.name}</p>
      <section className="card">
        <h2>{t('members')}</h2>
        {error ? <ErrorBox error={error} /> : null}
        <Async state={members}>
          {(d) => (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('name')}</th>
                  <th scope="col">{t('email')}</th>
                  <th scope="col">{t('role')}</th>
                  <th scope="col">{t('joined')}</th>
                  {admin && <th scope="col">{t('actions')}</th>}
                </tr>
              </thead>
              <tbody>
                {d.members.map((m) => (
                  <tr key={m.userId}>
                    <td>
                      {m.name} {m.userId === me.userId && t('you_')}
                    </td>
                    <td>{m.email}</td>
                    <td>
                      {canManage(m) ? (
                        <select aria-label={t('changeRoleFor', { name: m.name })} value={m.role} onChange={(e) => changeRole(m, e.target.value as Role)}>
                          {assignable.map((r) => (
                            <option key={r} value={r}>
                              {t(`role_${r}`)}
                            </option>
                          ))}
                        </select>
                      ) : (
                        t(`role_${m.role}`)
                      )}
                    </td>
                    <td>{formatDate(m.joinedAt)}</td>
                    {admin && (
                      <td>
                        {canManage(m) && (
                          <ConfirmButton
                            label={t('remove')}
                            question={t('removeMemberConfirm', { name: m.name })}
                            confirmLabel={t('remove')}
                            onConfirm={async () => {
                              await request(`/api/v1/members/${m.userId}`, { method: 'DELETE' })
                              members.reload()
                            }}
                          />
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Async>
      </section>
      {me.role !== 'member' && <MessengerLink />}
      {admin && (
        <div className="grid2">
          <InviteForm roles={assignable} onInvited={invitations.reload} />
          <section className="card">
            <h2>{t('pendingInvitations')}</h2>
            <Async state={invitations} isEmpty={(d) => d.invitations.length === 0} empty={t('noInvitations')}>
              {(d) => (
                <ul className="plain">
                  {d.invitations.map((i) => (
                    <li key={i.id} className="row">
                      <span>
                        {i.email} · {t(`role_${i.role}`)} · {t('expires')} {formatDate(i.expiresAt)}
                      </span>
                      <ConfirmButton
                        label={t('withdraw')}
                        question={`${t('withdraw')}: ${i.email}?`}
                        confirmLabel={t('withdraw')}
                        className="secondary"
                        onConfirm={async () => {
                          await request(`/api/v1/invitations/${i.id}`, { method: 'DELETE' })
                          invitations.reload()
                        }}
                      />
                    </li>
                  ))}
                </ul>
              )}
            </Async>
          </section>
        </div>
      )}
    </>
  )
}

function InviteForm({ roles, onInvited }: { roles: Role[]; onInvited: () => void }) {
  const { t } = useI18n()
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('operator')
  const [done, setDone] = useState('')
  const [error, setError] = useState<unknown>()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(undefined)
    setDone('')
    try {
      await request('/api/v1/invitations', { body: { email, role } })
      setDone(email)
      setEmail('')
      onInvited()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section className="card">
      <h2>{t('invite')}</h2>
      <form onSubmit={submit} className="stack">
        <Field label={t('email')}>{(id) => <input id={id} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
        <Field label={t('role')}>
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {t(`role_${r}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
        {error ? <ErrorBox error={error} /> : null}
        <p role="status" className="success">
          {done && t('invited', { email: done })}
        </p>
        <button type="submit">{t('sendInvitation')}</button>
      </form>
    </section>
  )
}

/**
 * The one-time code that links the signed-in person's messenger account to the organization: sent
 * to the organization's bot in a private chat as "link <CODE>" (channels may accept other forms).
 */
function MessengerLink() {
  const { t, formatDate } = useI18n()
  const [link, setLink] = useState<LinkCode>()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const make = async () => {
    setError(undefined)
    setBusy(true)
    try {
      setLink(await request<LinkCode>('/api/v1/channel-admins/link-codes', { body: {} }))
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const hints = link ? Object.values(channelUis).flatMap((ui) => (ui.linkHint ? [ui.linkHint(t, link.code)] : [])) : []
  return (
    <section className="card" aria-labelledby="messenger-link">
      <h2 id="messenger-link">{t('link_title')}</h2>
      <p className="hint">{t('link_help')}</p>
      {error ? <ErrorBox error={error} /> : null}
      <div role="status" aria-live="polite">
        {link && (
          <div className="link-code">
            <p>{t('link_send')}</p>
            <p>
              <code className="command">link {link.code}</code>
            </p>
            {hints.map((h) => (
              <p key={h} className="hint">
                {h}
              </p>
            ))}
            <p className="hint">{t('link_expires', { time: formatDate(link.expiresAt) })}</p>
          </div>
        )}
      </div>
      <button type="button" className={link ? 'secondary' : undefined} disabled={busy} onClick={make}>
        {busy ? t('loading') : link ? t('link_again') : t('link_make')}
      </button>
    </section>
  )
}
