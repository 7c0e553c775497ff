export * from './messages.ts'
export * from './detect.ts'
