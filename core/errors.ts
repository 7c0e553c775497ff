/** The one error type the application raises on purpose. `status` is the HTTP status it maps to. */
export class AppError extends Error {
  readonly code: string
  readonly status: number
  readonly details?: unknown

  constructor(code: string, message: string, status = 400, details?: unknown) {
    super(message)
    this.name = 'AppError'
    this.code = code
    this.status = status
    this.details = details
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`, 404)
export const forbidden = (message = 'You do not have permission to do this') =>
  new AppError('forbidden', message, 403)

/** Wraps an error thrown by an outside system with the method that failed. */
export function providerError(method: string, cause: unknown): AppError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new AppError('provider_error', `${method} failed: ${reason}`, 502)
}
