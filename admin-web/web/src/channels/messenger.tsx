import type { ChannelItem } from '../api.ts'
import { MetaConnect, MetaDetails, metaDisconnect, metaInstall, metaProblem } from './meta.tsx'
import type { ChannelUi, ConnectProps } from './types.ts'

/** A Facebook Page: "Connect with Facebook" when the server offers it, or the organization's own Meta app with the Page's token. */
function Connect(props: ConnectProps) {
  return <MetaConnect {...props} kind="messenger" prefix="ms" fields={{ accountId: 'pageId', token: 'pageAccessToken' }} before={['ms_step1', 'ms_step2']} after={['ms_step4', 'ms_step5']} tokenPlaceholder="EAA…" />
}

/** The Page's id, the Callback URL and Verify token for the app's Webhooks settings, or why Meta refuses its token. */
function Details({ channel }: { channel: ChannelItem }) {
  return <MetaDetails channel={channel} prefix="ms" />
}

export const messenger: ChannelUi = {
  label: (t) => t('ms_label'),
  connectTitle: (t) => t('ms_connectTitle'),
  Connect,
  connected: (t, inbox) => (inbox.webhookUrl && inbox.details?.install !== 'oauth' ? t('ms_connectedNext', { name: inbox.name }) : t('ms_connected', { name: inbox.name })),
  Details,
  problem: metaProblem('ms'),
  install: metaInstall('ms'),
  disconnect: metaDisconnect('ms'),
}
