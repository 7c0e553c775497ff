// PostgreSQL refuses two things JavaScript strings can hold: the NUL character (in text and in
// jsonb) and unpaired UTF-16 surrogates (they have no UTF-8 encoding). Either one makes an insert
// fail, so text from outside is checked or cleaned before it reaches a store.

// eslint-disable-next-line no-control-regex -- the NUL character is exactly what is looked for
const NUL = /\u0000/g
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g')

/** Whether PostgreSQL can store the string as it is. */
export const isStorableText = (s: string): boolean => !s.includes('\u0000') && !LONE_SURROGATE.test(s)

/** The string without NUL characters, with each unpaired surrogate replaced by U+FFFD. */
export const storableText = (s: string): string => (isStorableText(s) ? s : s.replace(NUL, '').replace(LONE_SURROGATES, '\uFFFD'))

/** A copy of a parsed JSON value whose strings and keys are all storable (the value itself when they are). */
export function storableJson<T>(value: T): T {
  return (firstUnstorable(value) === null ? value : clean(value)) as T
}

// Dates, Buffers and other class instances are left as they are: only JSON's own shapes are walked.
const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (!v || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value)
  if (Array.isArray(value)) return value.map(clean)
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), clean(v)]))
  return value
}

/**
 * The path of the first string or key PostgreSQL cannot store (e.g. `body.text`, `query.q`, `items[2]`),
 * or null. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function firstUnstorable(value: unknown, path = ''): string | null {
  const stack: [unknown, string][] = [[value, path]]
  while (stack.length) {
    const [v, at] = stack.pop()!
    if (typeof v === 'string') {
      if (!isStorableText(v)) return at || '(value)'
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${at}[${i}]`])
    } else if (isPlainObject(v)) {
      for (const [k, child] of Object.entries(v)) {
        const childAt = at ? `${at}.${k}` : k
        if (!isStorableText(k)) return storableText(childAt)
        stack.push([child, childAt])
      }
    }
  }
  return null
}
