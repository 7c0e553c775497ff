// Creates a PGlite cluster (initdb) in the directory given as argv[2], then exits.
// Run in a child process so the memory initdb takes is returned to the system when it ends.
import process from 'node:process'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'

const db = await PGlite.create(process.argv[2], { extensions: { vector } })
await db.close()
