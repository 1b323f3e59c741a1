"""The project's one base error, and the whole tree of errors that derive from it.

Every exception the project defines derives from `SuishenError`, so a command line catches that
once (plus `OSError` where it reads or writes files) and prints the message; nothing it expects
ends in a stack trace. A class named "(ValueError)" also derives from that built-in, so code that
caught the built-in before the tree existed still does. `VerificationError(reason)` is the one
error a verifier raises: every rejection names one reason code (DESIGN.md, "Reason codes").

The tree (class, also-derives-from, module: what it means); tests/keys/test_errors.py keeps it
true: a new exception class that does not derive from `SuishenError`, or is not drawn here under
its parent, fails that test.

    SuishenError                                 keys.errors: the base of every project error
    ├── KeyAlgorithmError (ValueError)           keys.algorithms: a key does not fit its algorithm
    ├── KeyRingError (ValueError)                keys.ring: unknown kid, no active key, damaged ring
    ├── KeyStorageError                          keys.storage: a key cannot be stored or loaded
    ├── SM2Error (ValueError)                    keys.sm2: an SM2 key or signature cannot be used
    ├── SignedDocumentError                      keys.signed_json: a signed document cannot be used
    │   ├── TrustListError                       keys.trust_list: the trust list cannot be used
    │   │   └── PartnerError                     keys.partners: a partner cannot be registered or found
    │   ├── RevocationListError                  keys.revocation_list: a revocation list or delta cannot be used
    │   └── CatalogueError                       verifier.catalogue: a catalogue snapshot cannot be used
    ├── VerificationError                        verifier.errors: a code was rejected; `reason` says why
    ├── Base45Error (ValueError)                 verifier.base45: not canonical base45
    ├── CborError (ValueError)                   verifier.cbor_strict: not deterministic CBOR
    ├── VenueError (ValueError)                  verifier.decide: a venue file or list cannot be used
    ├── ProfileError (ValueError)                app.profiles: a holder profile cannot be read
    ├── IssueError (ValueError)                  app.issuing: a credential cannot be issued as asked
    ├── CardError (ValueError)                   app.cards: a printed card cannot be issued, found or ended
    │   ├── NoCardForPerson                      app.cards: not in the results, or no scan-mode privilege
    │   └── UnknownCard                          app.cards: no such card on record
    ├── CardPrintError (RuntimeError)            app.card_print: no CJK font to print a card with
    ├── RevocationError (ValueError)             app.revocations: an entry cannot be added as asked
    ├── PhoneError (ValueError)                  app.phones: this phone may not have a credential now
    ├── PublishError (ValueError)                app.catalogue: a catalogue cannot be published
    ├── FirstStartError (ValueError)             app.first_start: the deployment cannot start as configured
    ├── PolicyTextError (ValueError)             app.policy_text: not a readable policy tree
    ├── _DuplicateKey                            app.policy_text: internal, never leaves load_json
    ├── RegistryError (ValueError)               app.matching.load: a registry file is unusable
    │   └── TooManyRejects                       app.matching.load: too many rows rejected
    ├── ApplicationError (ValueError)            app.matching.applications: an application is refused
    │   └── ConfirmationError                    app.matching.confirmations: a confirmation is refused
    ├── PayoutError (ValueError)                 app.matching.payouts: a pay run cannot run as asked
    ├── ObjectionError (ValueError)              app.matching.objections: an objection is refused
    ├── RelationFixError (ValueError)            app.matching.relation_fixes: a relation correction is refused
    ├── ChangeError (ValueError)                 app.matching.changes: a batch of registry changes is refused
    ├── EvaluationError (ValueError)             app.matching.evaluation: not a period to evaluate
    ├── CreditCodeError (ValueError)             app.credit_code: not a unified social credit code
    ├── ApiError                                 app.api.deps: an HTTP answer with status and code
    ├── FetchError                               app.api.partner_fetch: a partner list was not fetched
    ├── NoActiveKey (RuntimeError)               app.api.services: no issuer key may sign
    ├── AnotherProcess (RuntimeError)            app.api.sole_process: the database is in use
    ├── SourceError (ValueError)                 scanner_client.sources: camera, video or folder unusable
    ├── ImageDecodeError (ValueError)            scanner_client.decode: files cannot be read as images
    ├── DecoderNameError (ValueError)            scanner_client.decoders: not a decoder name
    ├── DocumentError (ValueError)               scanner_client.documents: a gate document is refused
    ├── DisplayError (RuntimeError)              scanner_client.display: no window to show decisions
    ├── SharedUnavailable                        scanner_client.replay_shared: the shared cache is down
    ├── Unreachable                              scanner_client.server: the server did not answer
    └── Refused                                  scanner_client.server: the server refused (4xx)

This module imports nothing of the project: `keys` is the lowest package, and every other
package may import it (DESIGN.md, "Packages and their direction of dependence").
"""

from __future__ import annotations


class SuishenError(Exception):
    """The base of every exception the project defines; the message says what is wrong, in words."""


__all__ = ["SuishenError"]
