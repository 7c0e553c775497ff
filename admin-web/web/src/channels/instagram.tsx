import type { ChannelItem } from '../api.ts'
import { MetaConnect, MetaDetails, metaDisconnect, metaInstall, metaProblem } from './meta.tsx'
import type { ChannelUi, ConnectProps } from './types.ts'

/** An Instagram professional account (Instagram API with Instagram Login): "Connect with Instagram" when the server offers it, or the organization's own Meta app with the account's token. */
function Connect(props: ConnectProps) {
  return <MetaConnect {...props} kind="instagram" prefix="ig" fields={{ accountId: 'accountId', token: 'accessToken' }} before={['ig_step1', 'ig_step2']} after={['ig_step4', 'ig_step5']} tokenPlaceholder="IG…" />
}

/** The account's id, when its token expires, the Callback URL and Verify token for the app's Webhooks settings, or why Meta refuses its token. */
function Details({ channel }: { channel: ChannelItem }) {
  return <MetaDetails channel={channel} prefix="ig" />
}

export const instagram: ChannelUi = {
  label: (t) => t('ig_label'),
  connectTitle: (t) => t('ig_connectTitle'),
  Connect,
  connected: (t, inbox) => (inbox.webhookUrl && inbox.details?.install !== 'oauth' ? t('ig_connectedNext', { name: inbox.name }) : t('ig_connected', { name: inbox.name })),
  Details,
  problem: metaProblem('ig'),
  install: metaInstall('ig'),
  disconnect: metaDisconnect('ig'),
}
