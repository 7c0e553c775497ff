import { ConfigError } from '../core/config/index.ts'
import { loadConfig, type AppConfig } from '../adapters/channels.ts'
import { createLogger } from '../adapters/log/logger.ts'

/** Parses the environment once; a bad value ends the process with a message naming the variable. */
export function boot(): { config: AppConfig; logger: ReturnType<typeof createLogger> } {
  try {
    const config = loadConfig(process.env)
    return { config, logger: createLogger({ level: config.LOG_LEVEL }) }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee README.md, "Configuration".\n`)
      process.exit(78)
    }
    throw error
  }
}

/** Builds the app; a configuration the environment cannot run (a PostgreSQL without pgvector) ends the process with its message, not a stack trace. */
export async function startOrExit<T>(start: () => Promise<T>): Promise<T> {
  try {
    return await start()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee README.md, "Configuration".\n`)
      process.exit(78)
    }
    throw error
  }
}

/** Stops cleanly on SIGINT/SIGTERM; logs and survives stray rejections instead of dying mid-turn. */
export function handleSignals(logger: ReturnType<typeof createLogger>, stop: () => Promise<void>) {
  let stopping = false
  const onSignal = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    await stop()
    process.exit(0)
  }
  process.on('SIGINT', () => void onSignal('SIGINT'))
  process.on('SIGTERM', () => void onSignal('SIGTERM'))
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'))
}
