import type { z } from 'zod'
import { configSchema, loadConfig as loadCoreConfig, type Config } from '../core/config/index.ts'
import type { ChannelModule } from './channel-module.ts'
import { kommoConfig } from './kommo/config.ts'
import { kommo } from './kommo/chat-channel.ts'
import { instagram } from './instagram/index.ts'
import { messenger } from './messenger/index.ts'
import { slack } from './slack/index.ts'
import { telegram } from './telegram/index.ts'
import { webchat } from './webchat/index.ts'

/**
 * Every channel of Switchboard, one line each: the only place that lists them. A new channel is a
 * folder under adapters/ exporting its module, and a line here (docs/channels.md, "Adding a channel").
 */
export const channelModules: readonly ChannelModule[] = [
  webchat,
  telegram,
  slack,
  messenger,
  instagram,
  kommo,
]

/** The one configuration schema: core's variables, payments', the Kommo CRM's, and each channel module's own. */
export const configSchemaFor = (modules: readonly ChannelModule[]) => modules.reduce((schema, module) => schema.extend(module.config.shape), (configSchema as z.ZodObject).extend(kommoConfig.shape) as z.ZodObject)

/** Parses the environment once with every channel's variables (the registry's, or the modules given); a bad value names its variable. */
export const loadConfig = (env: Record<string, string | undefined> = process.env, modules: readonly ChannelModule[] = channelModules): AppConfig =>
  loadCoreConfig(env, configSchemaFor(modules) as unknown as typeof configSchema)

/** Core's settings, typed, and the channels' own (each module reads its part with its schema's types). */
export type AppConfig = Config & Record<string, unknown>
