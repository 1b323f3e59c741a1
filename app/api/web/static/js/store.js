// The holder-bound credential and its device key pair, kept in IndexedDB. The private key is a
// non-extractable CryptoKey: IndexedDB stores the handle, and no script can read the key out.

const DB = "suishen-pass";
const STORE = "holder";
const RECORD = "current";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** {subject, keyPair, credential: Uint8Array, expiresAt, timeStep} or undefined. */
export async function loadHolder() {
  try {
    return await run("readonly", (s) => s.get(RECORD));
  } catch {
    return undefined;
  }
}

export async function saveHolder(record) {
  await run("readwrite", (s) => s.put(record, RECORD));
}

export async function clearHolder() {
  await run("readwrite", (s) => s.delete(RECORD));
}
