import type { Me } from './api.ts'

/** The signed-in person, as the pages get it from the app shell. */
export type Session = { me: Me; refresh: () => Promise<void> }

/** Owners and admins manage agents, channels and members. */
export const isAdmin = (s: Session) => s.me.role === 'owner' || s.me.role === 'admin'
