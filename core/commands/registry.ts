import type { TurnContext } from '../conversation/pipeline.ts'
import type { InboundCommand, Message } from '../ports.ts'
import { say } from '../language/index.ts'

export type Command = { name: string; description: string; run(input: { ctx: TurnContext; args: string }): Promise<string> }
export type CommandRegistry = { get(name: string): Command | undefined; list(): Command[] }

export function createCommandRegistry(commands: Command[]): CommandRegistry {
  const byName = new Map(commands.map((c) => [c.name, c]))
  return { get: (name) => byName.get(name), list: () => [...byName.values()] }
}

/** Commands every customer may use in any channel. Admin commands are added by later channels. */
export const customerCommands: Command[] = [
  {
    name: 'start',
    description: 'Start the conversation',
    async run({ ctx }) {
      return say(ctx.language, 'welcome', { agent: ctx.agent.name })
    },
  },
  {
    name: 'help',
    description: 'What this assistant can do',
    async run({ ctx }) {
      return say(ctx.language, 'help', { agent: ctx.agent.name })
    },
  },
]

/**
 * A button that runs a command when pressed (e.g. "/model gpt-4o" under /model). Its id is this
 * module's own encoding, decoded by commandOf: channels carry it as an opaque choice id.
 */
export const commandChoice = (command: InboundCommand, label: string) => ({ id: `/${command.name}${command.args ? ` ${command.args}` : ''}`, label })

/** The command a stored message carries: recognised by its channel, or a command button pressed. */
export function commandOf(message: Pick<Message, 'meta'>): InboundCommand | undefined {
  if (message.meta.command) return message.meta.command
  const match = message.meta.choiceId ? /^\/([a-z][a-z0-9_]*)(?: ([\s\S]*))?$/.exec(message.meta.choiceId) : null
  return match ? { name: match[1]!, args: match[2]?.trim() ?? '' } : undefined
}
