import { createServer, type AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { createLogMailer, createSmtpMailer } from '../../adapters/mail/mailer.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { logCapture } from '../support/test-app.ts'

/** A tiny SMTP server that accepts every message and keeps what it received. */
function fakeSmtp() {
  const received: string[] = []
  const server = createServer((socket) => {
    let data = false
    let buffer = ''
    socket.write('220 fake.smtp ESMTP\r\n')
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8')
      for (;;) {
        if (data) {
          const end = buffer.indexOf('\r\n.\r\n')
          if (end < 0) return
          received.push(buffer.slice(0, end))
          buffer = buffer.slice(end + 5)
          data = false
          socket.write('250 OK queued\r\n')
          continue
        }
        const eol = buffer.indexOf('\r\n')
        if (eol < 0) return
        const line = buffer.slice(0, eol)
        buffer = buffer.slice(eol + 2)
        const verb = line.slice(0, 4).toUpperCase()
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250-fake.smtp\r\n250 AUTH PLAIN LOGIN\r\n')
        else if (verb === 'AUTH') socket.write('235 Authenticated\r\n')
        else if (verb === 'DATA') {
          data = true
          socket.write('354 Go ahead\r\n')
        } else if (verb === 'QUIT') socket.end('221 Bye\r\n')
        else socket.write('250 OK\r\n')
      }
    })
  })
  return { server, received }
}

describe('mail for reset and invitation links', () => {
  const smtp = fakeSmtp()
  afterAll(() => new Promise<void>((r) => smtp.server.close(() => r())))

  it('sends through SMTP_URL without logging its password', async () => {
    await new Promise<void>((r) => smtp.server.listen(0, '127.0.0.1', () => r()))
    const port = (smtp.server.address() as AddressInfo).port
    const logs = logCapture()
    const mailer = createSmtpMailer({ url: `smtp://mailer:smtp-secret-pw@127.0.0.1:${port}`, from: 'Switchboard <no-reply@example.com>', logger: createLogger({ level: 'debug', destination: logs.destination }) })
    await mailer.send({ to: 'rex@example.com', subject: 'Reset your Switchboard password', text: 'Open https://sb.example.com/admin/#/reset?token=abc' })
    expect(smtp.received).toHaveLength(1)
    expect(smtp.received[0]).toContain('To: rex@example.com')
    expect(smtp.received[0]).toContain('Subject: Reset your Switchboard password')
    expect(smtp.received[0]).toContain('#/reset?token=abc')
    expect(logs.text()).toContain('mail sent')
    expect(logs.text()).not.toContain('smtp-secret-pw')
  })

  it('logs the reason, not the URL, when the server cannot be reached', async () => {
    const logs = logCapture()
    const mailer = createSmtpMailer({ url: 'smtp://mailer:smtp-secret-pw@127.0.0.1:1', from: 'a@example.com', logger: createLogger({ level: 'debug', destination: logs.destination }) })
    await mailer.send({ to: 'rex@example.com', subject: 's', text: 't' })
    expect(logs.text()).toContain('mail could not be sent')
    expect(logs.text()).not.toContain('smtp-secret-pw')
  })

  it('without SMTP, writes the mail with its link to the log', async () => {
    const logs = logCapture()
    await createLogMailer(createLogger({ level: 'info', destination: logs.destination })).send({ to: 'max@example.com', subject: 'Join', text: 'link: http://x/admin/#/invitation?token=t1' })
    expect(JSON.parse(logs.lines[0]!)).toMatchObject({ mailTo: 'max@example.com', subject: 'Join', body: 'link: http://x/admin/#/invitation?token=t1' })
  })
})
