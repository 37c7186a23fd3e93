#!/usr/bin/env node
// Writes the original app's Firestore collections as <out>/<collection>.json, the export that
// `elearning-api import firestore <out>` loads: per collection, a JSON array of {id, ...fields}
// (JSON.stringify writes a Timestamp as {"_seconds": …, "_nanoseconds": …}).
//
//   npm install firebase-admin
//   GOOGLE_APPLICATION_CREDENTIALS=service-account.json node scripts/firestore-export.mjs export/
//
// See docs/migration-from-firebase.md.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applicationDefault, initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';

const COLLECTIONS = [
  'users',
  'courses',
  'progress',
  'enrollmentRequests',
  'quizzes',
  'quizAttempts',
  'notifications',
];

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/firestore-export.mjs <out-dir>');
  process.exit(2);
}

initializeApp({ credential: applicationDefault() });
const db = getFirestore();
await mkdir(out, { recursive: true });
for (const name of COLLECTIONS) {
  const snapshot = await db.collection(name).get();
  const docs = snapshot.docs.map((doc) => {
    // Some documents hold a field named `id` (progress does): the document id wins.
    const { id: _field, ...fields } = doc.data();
    return { id: doc.id, ...fields };
  });
  await writeFile(join(out, `${name}.json`), `${JSON.stringify(docs, null, 2)}\n`);
  console.log(`${name}: ${docs.length} documents`);
}
