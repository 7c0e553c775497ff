import { useState } from 'react'
import type { ChannelItem } from '../api.ts'
import { useI18n } from '../i18n.ts'
import { Field } from '../ui.tsx'
import { ConnectForm } from './connect-form.tsx'
import type { ChannelUi, ConnectProps } from './types.ts'

/** The bot's @username from the channel's details (GET /api/v1/channels, POST .../channels/telegram). */
const username = (details: Record<string, unknown>, name: string) => (typeof details.botUsername === 'string' && details.botUsername ? `@${details.botUsername}` : name)

function Connect(props: ConnectProps) {
  const { t } = useI18n()
  const [token, setToken] = useState('')
  return (
    <ConnectForm {...props} kind="telegram" body={() => ({ token })} onDone={() => setToken('')} help={t('tg_connectHelp')} submit={t('tg_connect')} submitting={t('tg_connecting')}>
      <Field label={t('tg_token')} hint={t('tg_tokenHint')}>
        {(id, describedBy) => <input id={id} type="password" required autoComplete="off" spellCheck={false} placeholder="123456789:AA…" aria-describedby={describedBy} value={token} onChange={(e) => setToken(e.target.value)} />}
      </Field>
    </ConnectForm>
  )
}

/** Webhook or long polling, and the bot's @username when the inbox is named otherwise. */
function Details({ channel }: { channel: ChannelItem }) {
  const { t } = useI18n()
  const bot = username(channel.details ?? {}, channel.name)
  const mode = channel.mode === 'webhook' ? t('tg_modeWebhook') : channel.mode === 'polling' ? t('tg_modePolling') : null
  if (!mode && bot === channel.name) return null
  return (
    <>
      <br />
      <small className="hint">{[mode, bot !== channel.name ? t('tg_bot', { bot }) : null].filter(Boolean).join(' · ')}</small>
    </>
  )
}

export const telegram: ChannelUi = {
  label: (t) => t('tg_label'),
  connectTitle: (t) => t('tg_connectTitle'),
  Connect,
  connected: (t, inbox) => t('tg_connected', { bot: username(inbox.details ?? {}, inbox.name) }),
  Details,
  disconnect: {
    label: (t) => t('tg_disconnect'),
    ariaLabel: (t, c) => t('tg_disconnectBot', { bot: c.name }),
    question: (t, c) => t('tg_disconnectConfirm', { bot: c.name, agent: c.agentName }),
    done: (t, r, c) => (r.warning ? t('tg_disconnectedWarning', { bot: r.name || c.name, warning: r.warning }) : t('tg_disconnected', { bot: r.name || c.name })),
  },
  linkHint: (t, code) => t('tg_linkStart', { code }),
}
