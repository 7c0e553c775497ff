import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../core/config/index.ts'
import { loadConfig } from '../../adapters/channels.ts'

describe('configuration', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ PORT: 3000, DATA_DIR: './data', NODE_ENV: 'development', LOG_LEVEL: 'info', PGLITE_SHARED_BUFFERS: 'auto' })
    expect(config.DATABASE_URL).toBeUndefined()
    expect(config.REDIS_URL).toBeUndefined()
    expect(config.OPENAI_API_KEY).toBeUndefined()
  })

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', REDIS_URL: ' ', OPENAI_API_KEY: '' })).toMatchObject({ DATABASE_URL: undefined, REDIS_URL: undefined, OPENAI_API_KEY: undefined })
  })

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgresql://u@db/app?connection_limit=0' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgresql://u@db/app?connection_limit=ten' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://localhost' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ PGLITE_SHARED_BUFFERS: 'lots' }, 'PGLITE_SHARED_BUFFERS'],
    [{ PGLITE_SHARED_BUFFERS: '128' }, 'PGLITE_SHARED_BUFFERS'],
    [{ ENCRYPTION_KEY: 'short' }, 'ENCRYPTION_KEY'],
    [{ ENCRYPTION_KEYS_PREVIOUS: 'aa,bb' }, 'ENCRYPTION_KEYS_PREVIOUS'],
    [{ LLM_PRICES: '{"gpt-4o-mini": {"input": "cheap"}}' }, 'LLM_PRICES'],
    [{ LLM_PRICES: 'not json' }, 'LLM_PRICES'],
    [{ WEBCHAT_FRAME_ANCESTORS: "'self'; script-src 'unsafe-inline'" }, 'WEBCHAT_FRAME_ANCESTORS'],
  ])('names the variable and what is expected for %o', (env, name) => {
    try {
      loadConfig(env)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as Error).message).toContain(name)
      expect((error as ConfigError).problems.join()).toMatch(new RegExp(`^${name}: .+`))
    }
  })

  it('never echoes the bad value of a secret', () => {
    const secret = 'not-a-valid-key-but-secret-looking-value'
    expect(() => loadConfig({ ENCRYPTION_KEY: secret })).toThrow(ConfigError)
    try {
      loadConfig({ ENCRYPTION_KEY: secret })
    } catch (error) {
      expect((error as Error).message).not.toContain(secret)
    }
  })

  it('reads a price table for model costs', () => {
    expect(loadConfig({ LLM_PRICES: '{"llama-3.1-8b":{"input":0.05,"output":0.08}}' }).LLM_PRICES).toEqual({ 'llama-3.1-8b': { input: 0.05, output: 0.08 } })
  })

  it('requires ENCRYPTION_KEY in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/ENCRYPTION_KEY: required when NODE_ENV=production/)
    expect(loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEY: 'a'.repeat(64) }).ENCRYPTION_KEY).toBe('a'.repeat(64))
  })
})

describe('WEBCHAT_FRAME_ANCESTORS', () => {
  it("defaults to 'self' and reads a space-separated list of origins", () => {
    expect(loadConfig({}).WEBCHAT_FRAME_ANCESTORS).toBe("'self'")
    expect(loadConfig({ WEBCHAT_FRAME_ANCESTORS: ' ' }).WEBCHAT_FRAME_ANCESTORS).toBe("'self'")
    expect(loadConfig({ WEBCHAT_FRAME_ANCESTORS: 'none' }).WEBCHAT_FRAME_ANCESTORS).toBe("'none'")
    expect(loadConfig({ WEBCHAT_FRAME_ANCESTORS: "'self'  https://shop.example.com https://*.example.org:8443 http://localhost:5173" }).WEBCHAT_FRAME_ANCESTORS).toBe(
      "'self' https://shop.example.com https://*.example.org:8443 http://localhost:5173",
    )
  })

  it.each([
    "'self'; script-src *",
    'https://shop.example.com;',
    'https://shop.example.com,https://other.example.com',
    "https://shop.example.com 'unsafe-inline'",
    '*',
    'https:',
    'https://shop.example.com/path',
    'javascript:alert(1)',
    "'none' https://shop.example.com",
  ])('refuses %j, so nothing but frame sources reaches the CSP header', (value) => {
    expect(() => loadConfig({ WEBCHAT_FRAME_ANCESTORS: value })).toThrow(/WEBCHAT_FRAME_ANCESTORS: expected 'self', 'none', or a space-separated list of origins/)
  })
})

describe('Telegram and handoff settings', () => {
  it('default to the public Bot API, automatic mode and a 15-minute handoff timeout that resumes the agent', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ TELEGRAM_API_ROOT: 'https://api.telegram.org', TELEGRAM_MODE: 'auto', HANDOFF_TIMEOUT_MS: 900_000, HANDOFF_TIMEOUT_ACTION: 'resume' })
    expect(config.TELEGRAM_BOT_TOKEN).toBeUndefined()
    expect(loadConfig({ TELEGRAM_MODE: '', HANDOFF_TIMEOUT_ACTION: ' ' })).toMatchObject({ TELEGRAM_MODE: 'auto', HANDOFF_TIMEOUT_ACTION: 'resume' })
  })

  it('refuses a malformed bot token without echoing it, and a Bot API root that is not a URL', () => {
    expect(() => loadConfig({ TELEGRAM_BOT_TOKEN: 'secret-but-wrong' })).toThrow(/TELEGRAM_BOT_TOKEN: expected a bot token from @BotFather/)
    try {
      loadConfig({ TELEGRAM_BOT_TOKEN: 'secret-but-wrong' })
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-but-wrong')
    }
    expect(() => loadConfig({ TELEGRAM_API_ROOT: 'ftp://bots.example.com' })).toThrow(/TELEGRAM_API_ROOT/)
    expect(() => loadConfig({ TELEGRAM_MODE: 'push' })).toThrow(/TELEGRAM_MODE/)
    expect(loadConfig({ TELEGRAM_BOT_TOKEN: '123456789:AAH-valid-looking-token-abcdefgh', TELEGRAM_API_ROOT: 'http://127.0.0.1:8081' })).toMatchObject({ TELEGRAM_API_ROOT: 'http://127.0.0.1:8081' })
  })
})
