import type { TurnContext } from '../conversation/pipeline.ts'

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
      return `Hello! I am ${ctx.agent.name}. Ask me anything, and I will answer from our knowledge base with its sources.`
    },
  },
  {
    name: 'help',
    description: 'What this assistant can do',
    async run({ ctx }) {
      return `I am ${ctx.agent.name}. Ask me a question and I will answer from our knowledge base, with the sources I used. Write "talk to a person" at any time to reach someone from our team.`
    },
  },
]
