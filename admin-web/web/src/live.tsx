import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react'
import { request } from './api.ts'
import { dictionaries, useI18n, type TextKey } from './i18n.ts'
import { navigate } from './navigate.ts'

/** One event of GET /api/v1/events; `ready` also after every reconnection (reload what you show). */
export type LiveEvent = { type: string; data: { conversationId?: string; reason?: string; operatorUserId?: string | null; resync?: boolean; [k: string]: unknown } }
type Listener = (event: LiveEvent) => void
type Live = { subscribe: (fn: Listener) => () => void; connected: boolean; waiting: number }

const LiveContext = createContext<Live>({ subscribe: () => () => {}, connected: false, waiting: 0 })
const TYPES = ['conversation.created', 'message.created', 'handoff.opened', 'handoff.taken', 'handoff.released', 'source.progress', 'quota.notice', 'contact.erased']
const NOTIFY_KEY = 'sb.notify'

/** A handoff reason as people read it: known codes get a label, the agent's own sentence stays as written. */
export function useReasonLabel() {
  const { t } = useI18n()
  return (reason: string) => {
    const key = `reason_${reason}`
    return key in dictionaries.en ? t(key as TextKey) : reason
  }
}

/**
 * The one live stream of the signed-in session (EventSource: the browser reconnects by itself with
 * Last-Event-ID; the server then says `ready` with resync, and every page reloads what it shows).
 * It keeps the count of customers waiting for a person (the menu's badge) and, when the operator
 * allowed it, shows a browser notification for each new handoff.
 */
export function LiveProvider({ children }: { children: ReactNode }) {
  const { t } = useI18n()
  const listeners = useRef(new Set<Listener>())
  const [connected, setConnected] = useState(false)
  const [waiting, setWaiting] = useState(0)
  const reasonLabel = useReasonLabel()
  const labels = useRef({ t, reasonLabel })
  labels.current = { t, reasonLabel }

  const countWaiting = useCallback(async () => {
    try {
      const { handoffs } = await request<{ handoffs: unknown[] }>('/api/v1/handoffs?status=open')
      setWaiting(handoffs.length)
    } catch {
      // the next event tries again
    }
  }, [])

  useEffect(() => {
    if (typeof EventSource === 'undefined') return
    let source: EventSource | null = null
    let retry: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    const emit = (event: LiveEvent) => {
      for (const fn of listeners.current) fn(event)
    }
    const connect = () => {
      if (stopped) return
      source = new EventSource('/api/v1/events')
      source.addEventListener('ready', (e) => {
        setConnected(true)
        void countWaiting()
        emit({ type: 'ready', data: JSON.parse((e as MessageEvent<string>).data) })
      })
      for (const type of TYPES) {
        source.addEventListener(type, (e) => {
          const event: LiveEvent = { type, data: JSON.parse((e as MessageEvent<string>).data) }
          if (type.startsWith('handoff.') || type === 'contact.erased') void countWaiting()
          if (type === 'handoff.opened') notify(event)
          emit(event)
        })
      }
      // Another tab of this session took this one's place: paused until the tab is looked at again.
      source.addEventListener('replaced', () => {
        source?.close()
        setConnected(false)
      })
      source.onerror = () => {
        setConnected(false)
        // Closed for good (signed out, refused): try again later; otherwise the browser reconnects.
        if (source?.readyState === EventSource.CLOSED) {
          clearTimeout(retry)
          retry = setTimeout(connect, 15_000)
        }
      }
    }
    const notify = (event: LiveEvent) => {
      if (typeof Notification === 'undefined' || Notification.permission !== 'granted' || localStorage.getItem(NOTIFY_KEY) !== 'on') return
      const id = event.data.conversationId
      const n = new Notification(labels.current.t('cv_notifyTitle'), { body: labels.current.reasonLabel(String(event.data.reason ?? '')), tag: `handoff:${id}` })
      n.onclick = () => {
        window.focus()
        if (id) navigate(`/conversations/${id}`)
        n.close()
      }
    }
    const onVisible = () => {
      if (document.visibilityState === 'visible' && source?.readyState === EventSource.CLOSED) {
        clearTimeout(retry)
        connect()
      }
    }
    connect()
    document.addEventListener('visibilitychange', onVisible)
    return () => {
      stopped = true
      clearTimeout(retry)
      source?.close()
      document.removeEventListener('visibilitychange', onVisible)
    }
  }, [countWaiting])

  const subscribe = useCallback((fn: Listener) => {
    listeners.current.add(fn)
    return () => void listeners.current.delete(fn)
  }, [])
  return <LiveContext.Provider value={{ subscribe, connected, waiting }}>{children}</LiveContext.Provider>
}

export const useLiveState = () => useContext(LiveContext)

/** Calls `onEvent` for every live event while the component is shown. */
export function useLiveEvents(onEvent: Listener) {
  const { subscribe } = useContext(LiveContext)
  const latest = useRef(onEvent)
  latest.current = onEvent
  useEffect(() => subscribe((e) => latest.current(e)), [subscribe])
}

/** The menu's count of customers waiting for a person. */
export function HandoffBadge() {
  const { t } = useI18n()
  const { waiting } = useContext(LiveContext)
  if (!waiting) return null
  return (
    <span className="nav-badge" role="status" aria-label={t('cv_badge', { n: waiting })}>
      {waiting}
    </span>
  )
}

/** Asks the browser's permission to notify of new handoffs (a button: browsers only ask after a click). */
export function NotificationToggle() {
  const { t } = useI18n()
  const supported = typeof Notification !== 'undefined'
  const [permission, setPermission] = useState(supported ? Notification.permission : 'denied')
  const [on, setOn] = useState(() => localStorage.getItem(NOTIFY_KEY) === 'on')
  if (!supported) return <p className="hint">{t('cv_notifyUnsupported')}</p>
  if (permission === 'denied') return <p className="hint">{t('cv_notifyDenied')}</p>
  if (permission === 'granted' && on)
    return (
      <p className="row notify">
        <span role="status">{t('cv_notifyOn')}</span>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            localStorage.setItem(NOTIFY_KEY, 'off')
            setOn(false)
          }}
        >
          {t('cv_notifyOff')}
        </button>
      </p>
    )
  return (
    <p className="row notify">
      <button
        type="button"
        className="secondary"
        onClick={async () => {
          const answer = await Notification.requestPermission()
          setPermission(answer)
          if (answer === 'granted') {
            localStorage.setItem(NOTIFY_KEY, 'on')
            setOn(true)
          }
        }}
      >
        {t('cv_notifyAsk')}
      </button>
    </p>
  )
}
