"""Every table of the services database, in one `MetaData`.

One schema for the matching CLI and the server (they share one database: see `app.db.engine`),
and the one Alembic reads (`app.db.migrations`). Feature modules keep their queries and import
their tables from here, so no table module imports another to reach the metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# -- payouts (app.matching.payouts): exactly one per subject, policy and period
payouts = Table(
    "payouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("period", String(16), nullable=False),
    Column("amount_yuan", Integer, nullable=False),
    Column("matching_run", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("pays", String(16)),  # the policy's frequency when paid (NULL: written before it was kept)
    UniqueConstraint("subject", "policy_id", "period", name="one_payout_per_subject_policy_period"),
)

# -- profiles (app.matching.profile_store): the group attributes a code carries, per subject
profiles = Table(
    "profiles",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("age_over", SmallInteger),
    Column("disability_category", SmallInteger),
    Column("disability_grade", SmallInteger),
    Column("martyr_family", Boolean, nullable=False),
    Column("entitled_group", Boolean, nullable=False),
    Column("student_level", SmallInteger),
    Column("enrolled_until", Date),
    Column("residence", Integer),
    Column("version", Integer, nullable=False),
)

# -- applications and their one-click confirmations (app.matching.applications)
applications = Table(
    "applications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("matching_run", Integer, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("document", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("subject", "policy_id", "matching_run", name="one_application_per_subject_policy_run"),
)

confirmations = Table(
    "confirmations",
    metadata,
    Column("application_sha256", String(64), primary_key=True),
    Column("confirmed_at", DateTime, nullable=False),
    Column("channel", String(16), nullable=False),
)

# -- how each confirmation was made, and once-only payouts (app.matching.confirmations, app.matching.payouts).
# One row per confirmation whatever the channel. Signed with the holder's device key, it keeps the COSE_Sign1
# statement exactly as received, its SHA-256 (unique: the same bytes are never taken twice), the statement's
# own time and the P-256 point it verified with (x || y), so the finance department can check it again from
# these bytes alone; a phone, counter or keyless web confirmation is `signed` false and keeps none of them.
confirmation_statements = Table(
    "confirmation_statements",
    metadata,
    Column("application_sha256", String(64), primary_key=True),  # the confirmation's (confirmations)
    Column("channel", String(16), nullable=False),
    Column("signed", Boolean, nullable=False),
    Column("notice_version", Integer),  # the commitment notice (告知承诺书) confirmed (NULL: none published)
    Column("statement", LargeBinary),  # the COSE_Sign1 bytes
    Column("statement_sha256", String(64), unique=True),
    Column("signed_at", BigInteger),  # the statement's time, unix s
    Column("device_key", LargeBinary(64)),  # x || y of the holder's registered P-256 key
    Column("device", Integer),  # holder_devices.id
    Column("received_at", DateTime, nullable=False),
)

# A `pays: once` policy pays a subject once per policy version, ever, whatever the period: kept by this index.
Index(
    "one_once_payout_per_subject_policy_version", payouts.c.subject, payouts.c.policy_id, payouts.c.policy_version,
    unique=True, sqlite_where=payouts.c.pays == "once", postgresql_where=payouts.c.pays == "once",
)  # fmt: skip

# -- entitlements, matching runs and their differences (app.matching.entitlement_store)
stored_entitlements = Table(
    "entitlements",
    metadata,
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("mode", String(16), nullable=False),  # direct, confirm, scan
    Column("run", Integer, nullable=False),  # the run that found it (in this version)
    Column("evidence", String(64), nullable=False),  # fingerprint of the registry files that run read
    Column("revoked_in", Integer),  # the run that no longer found it (NULL: entitled in the latest run)
    PrimaryKeyConstraint("subject", "policy_id", "generation"),  # also the index of every lookup here
    sqlite_with_rowid=False,  # SQLite keeps the rows in the key's B-tree: no second copy of the key
)

matching_runs = Table(
    "matching_runs",
    metadata,
    Column("run", Integer, primary_key=True),
    Column("day", Date, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("registries", String(64), nullable=False),
    Column("persons", BigInteger, nullable=False),
    Column("enterprises", BigInteger, nullable=False),
    Column("entitlements", BigInteger, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("counts", Text, nullable=False),  # JSON {policy id: subjects entitled}
    Column("copied_at", DateTime),  # when its entitlements were copied here (NULL: never)
)

run_diffs = Table(
    "run_diffs",
    metadata,
    Column("old_run", Integer, nullable=False),
    Column("new_run", Integer, nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("newly_eligible", BigInteger, nullable=False),
    Column("no_longer_eligible", BigInteger, nullable=False),
    Column("changed_version", BigInteger, nullable=False),
    PrimaryKeyConstraint("old_run", "new_run", "policy_id"),
)

# -- change batches published over a copied run (app.matching.change_effects): each exactly once
change_publications = Table(
    "change_publications",
    metadata,
    Column("run", Integer, nullable=False),  # the copied run the batch changed ...
    Column("run_finished_at", DateTime, nullable=False),  # ... of that results database (runs restart at 1)
    Column("batch", Integer, nullable=False),  # its number in the results database's change_batches
    Column("published_at", DateTime, nullable=False),
    Column("entitlements", Integer, nullable=False),  # entitlement rows written (added, revoked, changed)
    Column("profiles", Integer, nullable=False),  # profiles replaced
    Column("withdrawn", Integer, nullable=False),  # subjects whose earlier codes are withdrawn
    PrimaryKeyConstraint("run", "run_finished_at", "batch"),
)

# -- objections and the audit trail (app.matching.objections)
objections = Table(
    "objections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("statement", Text, nullable=False),
    Column("filed_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # open, upheld, rejected
    Column("officer", String(64)),
    Column("corrections", Text),  # JSON {attribute: value}
    Column("explanation", Text),  # the re-evaluation, line by line
    Column("resolved_at", DateTime),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)

# -- notifications (app.matching.notifications)
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("matching_run", Integer, nullable=False),
    Column("channel", String(16), nullable=False),  # the channel asked for; `inbox` for run-made notices
    Column("queued_at", DateTime, nullable=False),
    Column("sent_at", DateTime),  # claimed by a channel's deliverer (NULL: not sent beyond the inbox yet)
    Column("read_at", DateTime),
    UniqueConstraint("subject", "policy_id", "policy_version", name="one_notice_per_subject_policy_version"),
)

Index("notifications_unsent", notifications.c.sent_at, notifications.c.id)

# -- the online services: devices, gate events, catalogue snapshots, policy drafts
devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # gate, handheld, admin
    Column("venue", String(64)),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),  # made by the gate: a batch posted twice is stored once
    Column("device", String(32), nullable=False),
    Column("venue", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("day", String(10), nullable=False),  # local (CST) date, for usage statistics
    Column("result", String(16), nullable=False),
    Column("reason", String(32)),
    Column("policy_id", String(64)),
    Column("kind", String(16)),
    Column("issuer", String(64)),
    Column("degraded", Boolean, nullable=False),
    Column("repeat", Boolean, nullable=False),
    Column("received_at", DateTime, nullable=False),
)

Index("events_by_day", events.c.day, events.c.venue)

snapshots = Table(
    "catalogue_snapshots",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("document", LargeBinary, nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("published_by", String(64), nullable=False),
)

drafts = Table(
    "policy_drafts",
    metadata,
    Column("policy_id", String(64), primary_key=True),
    Column("source", Text, nullable=False),  # the policy as YAML, as the department wrote it
    Column("saved_at", DateTime, nullable=False),
    Column("saved_by", String(64), nullable=False),
)

# -- revocations (app.revocations): the entries of the signed revocation list. One row per withdrawn
# credential (kind `credential`, key = keys.revocation_list.credential_id(kid, cti)) or per day
# pseudonym of a subject (kind `subject`, key = the pseudonym codes carry; `before`: codes issued
# earlier are withdrawn). Never a registry subject or a name: the key is what the public list shows.
# `version` is the list version that added the row; the one row of `revocation_list_state` counts
# versions, updated in the entry's own transaction, so versions are unique and increasing however
# many processes add entries. Rows past `until` are pruned.
revocations = Table(
    "revocations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # credential, subject
    Column("key", LargeBinary(32), nullable=False),
    Column("before", BigInteger),  # subject entries: unix s
    Column("until", BigInteger, nullable=False),  # unix s after which no credential it covers is accepted
    Column("cause", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

Index("revocations_by_version", revocations.c.version)
Index("revocations_by_until", revocations.c.until)

revocation_list_state = Table(
    "revocation_list_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("version", Integer, nullable=False),
    Column("issued_at", BigInteger, nullable=False),  # of that version (re-signed for freshness as a new version)
)

# -- subject revocations waiting to be published (app.revocations.request_subject_revocations): the
# matching run writes them in the transaction that copies the new profiles, without the pepper the day
# pseudonyms need; a server process turns them into `revocations` rows within 2 s and deletes them.
revocation_requests = Table(
    "revocation_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("cause", String(32), nullable=False),
    Column("requested_at", BigInteger, nullable=False),  # unix s: codes issued before it are withdrawn
)

# -- phones (app.api.citizen): the device keys holder-bound credentials are bound to, at most
# `devices_per_subject` active per subject; a replaced or lost phone keeps its row with why it ended,
# so its page is told when it next asks. The credentials issued to each phone are kept until they
# expire, so a replaced phone's are withdrawn by their own ids (no other credential of the holder).
holder_devices = Table(
    "holder_devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("key_sha256", String(64), nullable=False),  # SHA-256 of the P-256 point (x || y)
    Column("registered_at", DateTime, nullable=False),
    Column("ended", String(16)),  # replaced, lost (NULL: active)
    Column("ended_at", DateTime),
    UniqueConstraint("subject", "key_sha256", name="one_row_per_subject_phone"),
)

holder_credentials = Table(
    "holder_credentials",
    metadata,
    Column("device", Integer, nullable=False),  # holder_devices.id
    Column("credential_id", LargeBinary(8), nullable=False),
    Column("until", BigInteger, nullable=False),  # its exp + clock skew
    PrimaryKeyConstraint("device", "credential_id"),
)

# -- renewal reminders (app.matching.notifications.remind_renewals): made by the matching run 30 days
# before a fact a code depends on ends (a disability certificate's validity, a student enrolment),
# kept once per (subject, fact, end date) by the unique constraint: a rerun adds none, a renewed
# fact (a later end date) is reminded again when its own end comes near. The row is the inbox entry.
renewal_reminders = Table(
    "renewal_reminders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("fact", String(64), nullable=False),  # the attribute holding the last day, e.g. student.enrolled_until
    Column("ends_on", Date, nullable=False),  # the last day on which the fact holds
    Column("matching_run", Integer, nullable=False),
    Column("queued_at", DateTime, nullable=False),
    Column("read_at", DateTime),
    UniqueConstraint("subject", "fact", "ends_on", name="one_reminder_per_subject_fact_end"),
)

# -- printed cards (app.cards): one row per card printed for a person without a phone. The number is
# the key (random, with a check digit); the credential is named by kid and cti, never stored; the
# printed initial is one letter or character, never a name or an ID number. At most one active card
# per subject (the partial unique index): a reissue marks the earlier one replaced in the same
# transaction, and a lost report marks it lost; both revoke it through the revocation list.
cards = Table(
    "cards",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),  # printed as SC dddd dddd dddd
    Column("subject", String(64), nullable=False),  # the registry subject
    Column("kid", LargeBinary, nullable=False),
    Column("cti", LargeBinary, nullable=False),
    Column("issued_at", BigInteger, nullable=False),  # the credential's iat and exp, unix seconds
    Column("expires_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # active, replaced, lost
    Column("initial", String(4)),  # one character; NULL: a batch card, the initial written by hand
    Column("ended_at", BigInteger),  # when it was replaced or reported lost
)

Index("cards_by_subject", cards.c.subject, cards.c.status)
Index("cards_by_kid", cards.c.kid, cards.c.expires_at)
Index(
    "one_active_card_per_subject", cards.c.subject, unique=True,
    sqlite_where=cards.c.status == "active", postgresql_where=cards.c.status == "active",
)  # fmt: skip

# -- the enterprise side (issue 15, section 3) -----------------------------------------------------------
# Enterprise profiles (app.matching.enterprise_profiles): what an enterprise's code (法人随申码) may carry, per
# unified social credit code, copied by the matching run in the transaction that copies the persons'
# profiles. credit_good is 守信 (an A-level taxpayer with no blacklist entry), region where it is registered.
enterprise_profiles = Table(
    "enterprise_profiles",
    metadata,
    Column("subject", String(64), primary_key=True),  # the credit code
    Column("credit_good", Boolean, nullable=False),
    Column("region", Integer),
    Column("version", Integer, nullable=False),
)

# -- performance evaluation and notice delivery (issue 15, sections 4 and 6) ---------------------------
# The original-channel list (app.matching.evaluation.keep_original_channel_list): the subjects a copied run
# could not decide for want of a fact (the results database's `incomplete` table, replaced each run), kept
# per run so that the evaluation counts, per policy and period, who was sent to apply through the original
# channel (原渠道申请). A run copied again (a results database started afresh reuses its numbers) replaces
# its rows.
original_channel = Table(
    "original_channel",
    metadata,
    Column("run", Integer, nullable=False),
    Column("subject", String(64), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("missing", String(128), nullable=False),  # the unknown facts, e.g. "income.monthly"
    Column("listed_at", DateTime, nullable=False),  # UTC: when the run's list reached the services
    PrimaryKeyConstraint("run", "subject", "policy_id"),
)

Index("original_channel_by_time", original_channel.c.listed_at, original_channel.c.policy_id)

# Deliveries beyond the inbox (app.matching.delivery): one row per notice (kind `privilege`, ref =
# notifications.id) or renewal reminder (kind `renewal`, ref = renewal_reminders.id) handed to the SMS/push
# gateway, made only when a gateway is configured. The idempotency key is chosen once, when the row is made,
# and sent with every attempt; `lease_until` is a deliverer's claim (two server processes never post the
# same notice at once); a failure keeps its reason and the next attempt's time (exponential backoff).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # privilege, renewal
    Column("ref", Integer, nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("reason", Text),  # why the last attempt failed (kept when it is finally delivered: NULL then)
    Column("created_at", DateTime, nullable=False),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("lease_until", DateTime),  # claimed by a deliverer until then (NULL: free)
    Column("finished_at", DateTime),  # delivered or failed for good
    UniqueConstraint("kind", "ref", name="one_delivery_per_notice"),
)

Index("deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
