// The Telegram texts of the admin web. The channels' texts are merged into the dictionaries in
// channels/texts.ts; keys start with tg_ so that they cannot clash with another channel's.

export const en = {
  tg_label: 'Telegram',
  tg_modeWebhook: 'Webhook',
  tg_modePolling: 'Long polling',
  tg_bot: 'Bot {bot}',
  tg_connectTitle: 'Connect a Telegram bot',
  tg_connectHelp: 'Create a bot with @BotFather in Telegram (/newbot) and paste the token it gives you. The bot then answers customers as the agent you choose.',
  tg_token: 'Bot token',
  tg_tokenHint: 'Stored encrypted and never shown again.',
  tg_connect: 'Connect the bot',
  tg_connecting: 'Connecting…',
  tg_connected: '{bot} is connected.',
  tg_disconnect: 'Disconnect',
  tg_disconnectBot: 'Disconnect {bot}',
  tg_disconnectConfirm: 'Disconnect {bot} from {agent}? The bot stops answering and its token is deleted; its conversations stay.',
  tg_disconnected: '{bot} is disconnected.',
  tg_disconnectedWarning: '{bot} is disconnected, but Telegram could not be told ({warning}). Remove its webhook in Telegram if it still gets messages.',
  tg_linkStart: 'In Telegram: /link {code} or /start {code}.',
} as const

export const ru: Record<keyof typeof en, string> = {
  tg_label: 'Telegram',
  tg_modeWebhook: 'Вебхук',
  tg_modePolling: 'Опрос (long polling)',
  tg_bot: 'Бот {bot}',
  tg_connectTitle: 'Подключить бота Telegram',
  tg_connectHelp: 'Создайте бота у @BotFather в Telegram (/newbot) и вставьте токен, который он выдаст. Бот будет отвечать клиентам от имени выбранного агента.',
  tg_token: 'Токен бота',
  tg_tokenHint: 'Хранится в зашифрованном виде и больше не показывается.',
  tg_connect: 'Подключить бота',
  tg_connecting: 'Подключение…',
  tg_connected: '{bot} подключён.',
  tg_disconnect: 'Отключить',
  tg_disconnectBot: 'Отключить {bot}',
  tg_disconnectConfirm: 'Отключить {bot} от агента {agent}? Бот перестанет отвечать, его токен будет удалён; диалоги сохранятся.',
  tg_disconnected: '{bot} отключён.',
  tg_disconnectedWarning: '{bot} отключён, но сообщить об этом Telegram не удалось ({warning}). Если бот всё ещё получает сообщения, удалите его вебхук в Telegram.',
  tg_linkStart: 'В Telegram: /link {code} или /start {code}.',
}

/** Russian texts for the server's Telegram error codes (see serverErrorsRu in i18n.ts). */
export const errorsRu: Record<string, string> = {
  telegram_token_invalid: 'Telegram не принял этот токен бота (проверьте его у @BotFather).',
  telegram_unreachable: 'Не удалось связаться с Telegram. Попробуйте позже.',
}
