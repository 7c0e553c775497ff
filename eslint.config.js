import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/', 'adapters/db/generated/', 'data/', 'coverage/', 'tests/output/', 'admin-web/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // core/ stays free of SDKs, HTTP frameworks and the database client.
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/adapters/**', '**/bots/**', '**/admin-web/**'], message: 'core/ must not import outer layers' },
          { group: ['express', 'grammy', '@slack/*', 'openai', 'bullmq', 'ioredis', '@prisma/*', 'pg', '@electric-sql/*', 'pino'], message: 'core/ must not import SDKs' },
        ],
      }],
    },
  },
)
