import type { Logger, Mailer } from '../../core/ports.ts'

/**
 * Without SMTP settings, mail goes to the log: on a single machine the person who runs
 * Switchboard reads the password reset or invitation link there.
 */
export function createLogMailer(logger: Logger): Mailer {
  return {
    kind: 'log',
    async send({ to, subject, text }) {
      logger.warn({ mailTo: to, subject, body: text }, 'SMTP_URL is not set: this mail was written to the log instead of being sent')
    },
  }
}

/** SMTP through nodemailer, loaded on the first mail. `url` is like smtps://user:pass@smtp.example.com:465 */
export function createSmtpMailer(input: { url: string; from: string; logger: Logger }): Mailer {
  let transport: Promise<{ sendMail(m: object): Promise<unknown> }> | undefined
  return {
    kind: 'smtp',
    async send({ to, subject, text }) {
      transport ??= import('nodemailer').then((m) => m.default.createTransport(input.url))
      try {
        await (await transport).sendMail({ from: input.from, to, subject, text })
        input.logger.info({ mailTo: to, subject }, 'mail sent')
      } catch (error) {
        // The reason, never the URL: it holds the SMTP password.
        input.logger.error({ mailTo: to, subject, reason: (error as Error).message }, 'mail could not be sent')
      }
    },
  }
}
