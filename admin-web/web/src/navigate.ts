import { useEffect, useState } from 'react'

/** The location after '#': path and query, e.g. #/reset?token=... */
export function readHash() {
  const raw = window.location.hash.replace(/^#/, '') || '/'
  const [path, query = ''] = raw.split('?')
  return { path: path || '/', params: new URLSearchParams(query) }
}

export function navigate(to: string) {
  window.location.hash = to
}

/** The current hash route; changes when the location's hash does. */
export function useHashRoute() {
  const [route, setRoute] = useState(readHash)
  useEffect(() => {
    const on = () => setRoute(readHash())
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return route
}
