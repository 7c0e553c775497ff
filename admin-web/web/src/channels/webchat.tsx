import { useState } from 'react'
import type { ChannelItem } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { Field } from '../ui.tsx'
import { ConnectForm } from './connect-form.tsx'
import type { ChannelUi, ConnectProps } from './types.ts'

/** Another web chat inbox for an agent (each agent gets one when it is created). */
function Connect(props: ConnectProps) {
  const { t } = useI18n()
  const [name, setName] = useState('')
  return (
    <ConnectForm {...props} kind="webchat" body={() => (name.trim() ? { name: name.trim() } : {})} onDone={() => setName('')} help={t('wc_connectHelp')} submit={t('wc_connect')} submitting={t('wc_connecting')}>
      <Field label={t('wc_name')} hint={t('wc_nameHint')}>
        {(id, describedBy) => <input id={id} maxLength={120} aria-describedby={describedBy} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
    </ConnectForm>
  )
}

/** The link to the chat page customers use. */
function Details({ channel }: { channel: ChannelItem }) {
  const { t } = useI18n()
  const path = typeof channel.details?.chatPath === 'string' ? channel.details.chatPath : channel.publicKey ? `/chat/${channel.publicKey}` : null
  if (!path) return null
  return (
    <>
      <br />
      <a href={path} target="_blank" rel="noreferrer" aria-label={`${t('wc_openChat')}: ${channel.agentName} · ${channel.name}`}>
        {t('wc_openChat')}
      </a>
    </>
  )
}

export const webchat: ChannelUi = {
  label: (t) => t('wc_label'),
  connectTitle: (t) => t('wc_connectTitle'),
  Connect,
  connected: (t, inbox) => t('wc_connected', { name: inbox.name }),
  Details,
  disconnect: {
    label: (t) => t('wc_disconnect'),
    ariaLabel: (t, c) => t('wc_disconnectChat', { name: c.name }),
    question: (t, c) => t('wc_disconnectConfirm', { name: c.name, agent: c.agentName }),
    done: (t, r, c) => t('wc_disconnected', { name: r.name || c.name }),
  },
}
