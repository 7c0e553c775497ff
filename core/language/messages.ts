/**
 * Everything Switchboard itself says to customers, in every language it speaks. Organizations'
 * own texts (a custom quota message) and the agent's answers are not here: only the built-in ones.
 * Placeholders are written {name} and filled by `say`.
 */
export const LANGUAGES = ['en', 'ru'] as const
export type Language = (typeof LANGUAGES)[number]
/** An agent's setting: a fixed language, or "auto" (the customer's language, told from their messages). */
export const AGENT_LANGUAGES = ['auto', ...LANGUAGES] as const
export type AgentLanguage = (typeof AGENT_LANGUAGES)[number]
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', ru: 'Русский' }

const en = {
  /** The offline answerer found nothing relevant. */
  notFound: 'I could not find anything about that in my knowledge base, so I would rather not guess. You can rephrase the question, or write "talk to a person" to reach someone from our team.',
  /** The offline answerer's framing of a quote: "From <source>:". */
  quoteFrom: 'From "{source}":',
  handoffStarted: 'I have asked a person from our team to join. They will reply here as soon as they can.',
  /** The button under the agent's answers; pressing it (or typing its label) asks for a person. */
  handoffChoice: 'Talk to a person',
  handoffTimedOut: 'Sorry, nobody from our team is free right now. I am back and will help as best I can; write "talk to a person" to try again later.',
  handoffEnded: 'Our team member has handed the conversation back to me, the assistant. Ask me anything, or write "talk to a person" to reach the team again.',
  quotaUsedUp: 'Thank you for your message. We cannot answer more questions here right now; please try again later or contact us another way.',
  quotaHandedOver: 'Thank you for your message. I have asked a person from our team to reply here; they will answer as soon as they can.',
  slowDown: 'You are sending messages faster than I can read them. Please wait a moment and try again.',
  voiceNotSupported: 'Sorry, I cannot listen to voice messages yet. Could you type your question, please?',
  voiceNotUnderstood: 'Sorry, I could not make out your voice message. Could you type your question, please?',
  fileReceived: 'Thank you, I received your file. Please also write your question as text, so I can help.',
  failure: 'Sorry, I could not answer that just now. Please try again in a moment, or write "talk to a person".',
  assistantUnavailable: 'Sorry, I cannot answer right now because our assistant is unavailable. Write "talk to a person" and someone from our team will reply here.',
  welcome: 'Hello! I am {agent}. Ask me anything, and I will answer from our knowledge base with its sources.',
  help: 'I am {agent}. Ask me a question and I will answer from our knowledge base, with the sources I used. Write "talk to a person" at any time to reach someone from our team.',
  // The web chat page.
  chatIntro: 'Answers come from this business\'s knowledge base, with their sources. Write "talk to a person" to reach the team.',
  chatInputLabel: 'Your message',
  chatPlaceholder: 'Ask a question…',
  chatSend: 'Send',
  chatConversation: 'Conversation',
  chatYou: 'You',
  chatTeam: 'Team',
  chatSources: 'Sources',
  chatSource: 'Source: {title}',
  chatThinking: 'Thinking…',
  chatStillWorking: 'Still working on it; the answer will appear here.',
  chatPersonWillReply: 'A person from the team will reply here.',
  chatError: 'Something went wrong',
  chatOffline: 'Cannot reach the server; check your connection and try again.',
}

export type MessageKey = keyof typeof en

const ru: Record<MessageKey, string> = {
  notFound: 'Я не нашёл ничего об этом в базе знаний и не хочу гадать. Попробуйте задать вопрос иначе или напишите «позовите человека», чтобы связаться с нашей командой.',
  quoteFrom: 'Из «{source}»:',
  handoffStarted: 'Я позвал человека из нашей команды. Он ответит здесь, как только сможет.',
  handoffChoice: 'Позвать человека',
  handoffTimedOut: 'К сожалению, сейчас никто из команды не может ответить. Я снова с вами и помогу, чем смогу; напишите «позовите человека», чтобы попробовать позже.',
  handoffEnded: 'Сотрудник нашей команды вернул разговор мне, ассистенту. Спрашивайте что угодно или напишите «позовите человека», чтобы снова связаться с командой.',
  quotaUsedUp: 'Спасибо за сообщение. Сейчас мы не можем ответить здесь на новые вопросы; попробуйте позже или свяжитесь с нами другим способом.',
  quotaHandedOver: 'Спасибо за сообщение. Я попросил человека из нашей команды ответить здесь; он ответит, как только сможет.',
  slowDown: 'Вы пишете быстрее, чем я успеваю читать. Подождите немного и попробуйте снова.',
  voiceNotSupported: 'К сожалению, я пока не умею слушать голосовые сообщения. Напишите, пожалуйста, вопрос текстом.',
  voiceNotUnderstood: 'К сожалению, я не смог разобрать голосовое сообщение. Напишите, пожалуйста, вопрос текстом.',
  fileReceived: 'Спасибо, файл получен. Напишите, пожалуйста, и вопрос текстом, чтобы я мог помочь.',
  failure: 'К сожалению, сейчас я не смог ответить. Попробуйте ещё раз через минуту или напишите «позовите человека».',
  assistantUnavailable: 'К сожалению, сейчас я не могу ответить: ассистент недоступен. Напишите «позовите человека», и кто-то из нашей команды ответит здесь.',
  welcome: 'Здравствуйте! Я {agent}. Задайте любой вопрос, и я отвечу по нашей базе знаний со ссылками на источники.',
  help: 'Я {agent}. Задайте вопрос, и я отвечу по нашей базе знаний, указав источники. Напишите «позовите человека» в любой момент, чтобы связаться с нашей командой.',
  chatIntro: 'Ответы берутся из базы знаний компании, с указанием источников. Напишите «позовите человека», чтобы связаться с командой.',
  chatInputLabel: 'Ваше сообщение',
  chatPlaceholder: 'Задайте вопрос…',
  chatSend: 'Отправить',
  chatConversation: 'Разговор',
  chatYou: 'Вы',
  chatTeam: 'Команда',
  chatSources: 'Источники',
  chatSource: 'Источник: {title}',
  chatThinking: 'Думаю…',
  chatStillWorking: 'Ещё работаю над ответом; он появится здесь.',
  chatPersonWillReply: 'Человек из команды ответит здесь.',
  chatError: 'Что-то пошло не так',
  chatOffline: 'Нет связи с сервером; проверьте подключение и попробуйте снова.',
}

export const CATALOGUE: Record<Language, Record<MessageKey, string>> = { en, ru }

/** A built-in message in a language, its {placeholders} filled. */
export function say(language: Language, key: MessageKey, vars: Record<string, string> = {}): string {
  const text = CATALOGUE[language]?.[key] ?? CATALOGUE.en[key]
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole)
}

/** Every language's text of one message: for recognising a built-in text whatever its language (a button label typed back). */
export const allTexts = (key: MessageKey): string[] => LANGUAGES.map((l) => CATALOGUE[l][key])
