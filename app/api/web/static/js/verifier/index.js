// The handheld's offline verifier in one import: codes, documents, replay guards and reasons.
// (The rule evaluator and decisions live beside it: catalogue.js, rules.js, decide.js.)

export { Reason, VerificationError } from "./errors.js";
export { b45decode, b45encode } from "./base45.js";
export { CborError, loads as cborLoads } from "./cbor.js";
export { Sign1, parseHeader, sigStructure } from "./cose.js";
export { Profile, decodeClaims } from "./claims.js";
export { MAX_TEXT_LENGTH, PREFIX, TIME_STEP_S, parseCode, readProofStep } from "./code.js";
export { ALG_NAMES, EDDSA, ES256, ES384, SM2, hasEd25519, importPublicKey } from "./keys.js";
export { SignedDocumentError, canonicalJson, importRootKey, openDocument, parseJson } from "./signed_json.js";
export { TrustListError, TrustStore, loadTrustList } from "./trust.js";
export { RevocationList, RevocationListError, checkNotRevoked, credentialId, loadRevocationList } from "./revocation.js";
export { IndexedDBReplayGuard, MemoryReplayGuard, MIN_INTERVAL_S, cardReplayKey, replayKey, stepIsNext } from "./replay.js";
export {
  CARD,
  DEFAULT_CLOCK_SKEW_S,
  DEFAULT_PROOF_MAX_AGE_S,
  HOLDER_BOUND,
  LOCAL_OFFSET_S,
  ONLINE,
  codeJson,
  loadDocuments,
  localDayEnd,
  localDayNumber,
  verify,
  verifyCode,
} from "./verify.js";
