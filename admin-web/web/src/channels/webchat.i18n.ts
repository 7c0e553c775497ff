// The web chat texts of the admin web, merged into the dictionaries in channels/texts.ts.

export const en = {
  wc_label: 'Web chat',
  wc_openChat: 'Open the web chat page',
  wc_connectTitle: 'Add a web chat',
  wc_connectHelp: 'Another web chat page for an agent, e.g. one per website or campaign. Every agent already gets one when it is created.',
  wc_name: 'Name',
  wc_nameHint: 'Optional; shown in this list only.',
  wc_connect: 'Add the web chat',
  wc_connecting: 'Adding…',
  wc_connected: 'Web chat “{name}” is added.',
  wc_disconnect: 'Remove',
  wc_disconnectChat: 'Remove the web chat {name}',
  wc_disconnectConfirm: 'Remove the web chat “{name}” of {agent}? Its page stops answering; its conversations stay.',
  wc_disconnected: 'Web chat “{name}” is removed.',
} as const

export const ru: Record<keyof typeof en, string> = {
  wc_label: 'Веб-чат',
  wc_openChat: 'Открыть страницу веб-чата',
  wc_connectTitle: 'Добавить веб-чат',
  wc_connectHelp: 'Ещё одна страница веб-чата для агента, например для каждого сайта или кампании. Одну каждый агент получает при создании.',
  wc_name: 'Название',
  wc_nameHint: 'Необязательно; видно только в этом списке.',
  wc_connect: 'Добавить веб-чат',
  wc_connecting: 'Добавляем…',
  wc_connected: 'Веб-чат «{name}» добавлен.',
  wc_disconnect: 'Удалить',
  wc_disconnectChat: 'Удалить веб-чат {name}',
  wc_disconnectConfirm: 'Удалить веб-чат «{name}» агента {agent}? Его страница перестанет отвечать; диалоги сохранятся.',
  wc_disconnected: 'Веб-чат «{name}» удалён.',
}

export const errorsRu: Record<string, string> = {}
