//! How values are laid out in columns, shared by every backend so that both store the
//! same text (header lists, a hook's `last_response`, an attempt's outcome, idempotency
//! replies) and read rows by the same rules ([`Columns`]: hooks, apps, delivery-log items).

use crate::domain::hook::{
    ContentType, CustomHeaders, HookConfig, HookPatch, HookScope, HookSettings, LastResponse,
};
use crate::domain::names::{Login, RepoName};
use crate::domain::order::DeliveryOrder;
use crate::domain::rate::RateLimit;
use crate::domain::retry::RetrySchedule;
use crate::domain::secret::Secret;
use crate::domain::signature::{PreviousSecret, SignatureScheme};
use crate::domain::timestamp::Timestamp;
use crate::store::header_sets;
use crate::store::{
    AppId, AppRecord, AttemptId, AttemptQuery, AttemptRecord, AttemptSummary, Disabled, Hook,
    HookBacklog, HookId, InstallationId, LatestObjects, PruneCursor, Recovery, ScopeObjects,
    StatusClass, StoreError, TokenRecord, TokenScope, Trigger,
};

/// A scope as found in the database: the column its hooks are filed under, its row id,
/// and its names as first spelled.
pub(crate) struct ScopeRow {
    pub(crate) column: &'static str,
    pub(crate) id: i64,
    pub(crate) canonical: HookScope,
}

/// Stored data that this version cannot read.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// An account's login as stored.
pub(crate) fn login(text: &str) -> Result<Login, StoreError> {
    Login::parse(text).ok_or_else(|| corrupt("account login"))
}

/// Headers as a JSON array of `[name, value]` pairs: order and repeated names are kept.
pub(crate) fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).expect("strings serialize")
}

pub(crate) fn headers_from_json(text: &str) -> Vec<(String, String)> {
    serde_json::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

/// A hook's `last_response` from its three columns; no status means "unused".
pub(crate) fn last_response(
    status: Option<&str>,
    code: Option<u16>,
    message: Option<String>,
) -> LastResponse {
    match status {
        Some("active") => LastResponse::Active {
            code: code.unwrap_or(200),
            message: message.unwrap_or_default(),
        },
        Some(_) => LastResponse::Failed {
            code,
            message: message.unwrap_or_default(),
        },
        None => LastResponse::Unused,
    }
}

/// The `last_response` columns an attempt leaves on its hook.
pub(crate) fn last_response_columns(attempt: &AttemptRecord) -> (&'static str, Option<u16>, &str) {
    if attempt.succeeded {
        ("active", Some(attempt.status_code), "OK")
    } else {
        let code = (attempt.status_code != 0).then_some(attempt.status_code);
        ("failed", code, attempt.status.as_str())
    }
}

/// The delivery's state after an attempt: done, waiting for a retry, or given up.
pub(crate) fn state_after(attempt: &AttemptRecord) -> &'static str {
    match (attempt.succeeded, attempt.next_attempt) {
        (true, _) => "succeeded",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    }
}

/// Queues a recovery's deliveries (see `IngestStore::start_recovery`), with `{hook}`,
/// `{since}`, `{until}`, `{now}` and `{recovery}` replaced by a backend's placeholders: for
/// each of the hook's events published in the window, one more delivery after its latest if
/// that one failed and none is pending, due a millisecond apart, oldest event first.
/// Driven by `events_by_age` and `deliveries_by_event`.
pub(crate) const RECOVERY_INSERT: &str = "INSERT INTO deliveries \
       (event_id, hook_id, installation_id, retry, redelivery, state, due_at, recovery_id) \
     SELECT d.event_id, d.hook_id, d.installation_id, {false}, {true}, 'pending', \
            CASE WHEN (SELECT ordering FROM hooks WHERE id = {hook}) = 'fifo' THEN NULL \
                 ELSE {now} + row_number() OVER (ORDER BY d.event_id) - 1 END, {recovery} \
     FROM events e JOIN deliveries d ON d.event_id = e.id AND d.hook_id = {hook} \
     WHERE e.created_at >= {since} AND e.created_at <= {until} AND d.state = 'failed' \
       AND d.id = (SELECT max(x.id) FROM deliveries x \
                   WHERE x.event_id = e.id AND x.hook_id = {hook}) \
       AND NOT EXISTS (SELECT 1 FROM deliveries p \
                       WHERE p.event_id = e.id AND p.hook_id = {hook} AND p.state = 'pending')";

/// Disables failing hooks (for `failing_since`, `min_failures`, `reason`, `now` as 1–4),
/// returning their ids; [`HOLD_PENDING`] then holds their deliveries.
pub(crate) const DISABLE_FAILING: &str = "UPDATE hooks SET active = {false}, disabled_at = {now}, \
     disabled_reason = {reason} \
     WHERE active AND failing_since <= {since} AND failures >= {failures} RETURNING id";

/// [`DISABLE_FAILING`] with a backend's placeholders and boolean literal.
pub(crate) fn disable_failing(
    placeholder: impl Fn(usize) -> String,
    false_literal: &str,
) -> String {
    DISABLE_FAILING
        .replace("{since}", &placeholder(1))
        .replace("{failures}", &placeholder(2))
        .replace("{reason}", &placeholder(3))
        .replace("{now}", &placeholder(4))
        .replace("{false}", false_literal)
}

/// Holds a just-disabled hook's pending deliveries that are not under way (for `?1`/`$1`
/// = hook id): out of its line too, to be lined up again in order when it is re-activated.
pub(crate) const HOLD_PENDING: &str = "UPDATE deliveries SET state = 'held', due_at = NULL, \
     fifo_seq = NULL WHERE hook_id = {hook} AND state = 'pending' AND leased_by IS NULL";

/// What a claim does with a delivery whose hook is no longer active (`?1` = its id; the
/// PostgreSQL claim matches `= ANY($1)` instead): fails it, as GitHub sends nothing to an
/// inactive hook, or holds it if `--disable-after` disabled the hook.
pub(crate) const CANCEL_FOR_INACTIVE_HOOK: &str = "UPDATE deliveries SET \
     state = CASE WHEN EXISTS (SELECT 1 FROM hooks h WHERE h.id = deliveries.hook_id \
                                                     AND h.disabled_at IS NOT NULL) \
                  THEN 'held' ELSE 'failed' END, \
     due_at = NULL, leased_by = NULL, lease_until = NULL, fifo_seq = NULL WHERE id = ?1";

/// Releases a re-activated hook's held deliveries (for `?1`/`$1` = hook id) to be lined
/// up in order.
pub(crate) const RELEASE_HELD: &str = "UPDATE deliveries SET state = 'pending', due_at = NULL, \
     fifo_seq = NULL WHERE hook_id = {hook} AND state = 'held'";

/// What an update does to a hook's line and held deliveries.
pub(crate) struct LineChange {
    /// It stopped being FIFO or active: [`END_LINE`].
    pub(crate) end_line: bool,
    /// It was re-activated: [`RELEASE_HELD`], lined up in order, and its failing spell
    /// forgotten.
    pub(crate) reactivated: bool,
}

impl LineChange {
    /// Applies `patch` to `hook`, saying what that changes; an active hook is disabled no
    /// longer.
    pub(crate) fn apply(patch: &HookPatch, hook: &mut Hook) -> Self {
        let (was_active, was_fifo) = (
            hook.settings.active,
            hook.settings.config.ordering.is_fifo(),
        );
        patch.apply(&mut hook.settings);
        let (active, fifo) = (
            hook.settings.active,
            hook.settings.config.ordering.is_fifo(),
        );
        if active {
            hook.disabled = None;
        }
        LineChange {
            end_line: (was_fifo && !fifo) || (was_active && !active),
            reactivated: !was_active && active,
        }
    }
}

/// The deliveries no due time counts: held ones, and those waiting in a FIFO line behind its
/// head (each read through its partial index); and the request-header templates stored.
pub(crate) const WAITING_QUERY: &str = "SELECT \
     (SELECT count(*) FROM deliveries WHERE state = 'held'), \
     (SELECT count(*) FROM deliveries \
      WHERE state = 'pending' AND fifo_seq IS NOT NULL AND due_at IS NULL), \
     (SELECT count(*) FROM header_sets)";

/// A FIFO hook's new deliveries, not yet in its line (`?1` = hook id), in event order:
/// inserted without a due time by the transaction that lines them up.
pub(crate) const UNLINED_QUERY: &str = "SELECT id FROM deliveries \
     WHERE hook_id = ?1 AND state = 'pending' AND due_at IS NULL AND fifo_seq IS NULL \
     ORDER BY event_id, id";

/// Hands out `?2` places in hook `?1`'s line, returning the last, while the hook is FIFO
/// (or `?3`: lined up whatever it is). The update locks the hook's row to the commit.
pub(crate) const TAKE_PLACES: &str = "UPDATE hooks SET fifo_next = fifo_next + ?2 \
     WHERE id = ?1 AND (ordering = 'fifo' OR ?3) RETURNING fifo_next";

/// Whether hook `?1`'s line already has a delivery in it (read after [`TAKE_PLACES`]).
pub(crate) const LINE_BUSY_QUERY: &str = "SELECT EXISTS (SELECT 1 FROM deliveries \
     WHERE hook_id = ?1 AND state = 'pending' AND fifo_seq IS NOT NULL)";

/// Each of `new` deliveries' place, ending at `last` (what [`TAKE_PLACES`] returned), and
/// due time: the first is due at `now` if the line was empty, the rest wait their turn.
pub(crate) fn places(
    new: &[i64],
    last: i64,
    busy: bool,
    now: Timestamp,
) -> impl Iterator<Item = (i64, i64, Option<i64>)> + '_ {
    let first = last - new.len() as i64 + 1;
    new.iter().enumerate().map(move |(index, id)| {
        let head = index == 0 && !busy;
        (*id, first + index as i64, head.then_some(now.0))
    })
}

/// Ends a hook's FIFO line (for `?1`/`$1` = hook id, `?2`/`$2` = now) when the hook stops
/// being FIFO or active: every delivery waiting in it is due at once, side by side (and,
/// for an inactive hook, cancelled by the claim that finds it, as GitHub sends nothing).
pub(crate) const END_LINE: &str = "UPDATE deliveries SET due_at = coalesce(due_at, {now}), \
     fifo_seq = NULL WHERE hook_id = {hook} AND state = 'pending' AND fifo_seq IS NOT NULL";

/// [`END_LINE`] with a backend's placeholders.
pub(crate) fn end_line(placeholder: impl Fn(usize) -> String) -> String {
    END_LINE
        .replace("{hook}", &placeholder(1))
        .replace("{now}", &placeholder(2))
}

/// Retention's batch in a backend's placeholders: the next `{2}` events after the event
/// `{1}` in id order, as their last id, their oldest creation time and their number.
pub(crate) fn prune_batch(placeholder: impl Fn(usize) -> String) -> String {
    format!(
        "SELECT max(id), min(created_at), count(*) FROM
           (SELECT id, created_at FROM events WHERE id > {after} ORDER BY id LIMIT {batch}) looked",
        after = placeholder(1),
        batch = placeholder(2)
    )
}

/// The ids of the events of retention's batch that go: after the event `{2}`, up to the
/// event `{3}`, older than `{1}`, with no delivery pending or held.
pub(crate) fn prunable_events(placeholder: impl Fn(usize) -> String) -> String {
    format!(
        "SELECT e.id FROM events e
         WHERE e.id > {after} AND e.id <= {last} AND e.created_at < {before}
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.event_id = e.id AND d.state IN ('pending', 'held'))",
        before = placeholder(1),
        after = placeholder(2),
        last = placeholder(3)
    )
}

/// What [`prune_batch`] found: its last id, its oldest creation time and its number of
/// events (the first two none for an empty batch).
pub(crate) struct PruneBatch {
    pub last: Option<i64>,
    pub oldest: Option<i64>,
    pub looked: i64,
}

impl PruneBatch {
    /// The batch's last id, if anything in it is older than `before` (else there is
    /// nothing to delete and no statement to run).
    pub(crate) fn last_to_prune(&self, before: Timestamp) -> Option<i64> {
        self.last
            .filter(|_| self.oldest.is_some_and(|oldest| oldest < before.0))
    }

    /// Where the next batch of a pass starts after this one of `batch`: none when the pass
    /// is over (the log ended, or nothing in the batch was older than `before`).
    pub(crate) fn next(&self, batch: u32, before: Timestamp) -> Option<PruneCursor> {
        let last = self.last_to_prune(before)?;
        (self.looked >= i64::from(batch)).then_some(PruneCursor(last))
    }
}

/// Makes the hook's held deliveries of events published in the window part of a recovery
/// (placeholders as in [`RECOVERY_INSERT`]): a hook disabled by `--disable-after` sends
/// nothing, so they stay held, and count as the recovery's pending work, until the hook is
/// re-activated. Their latest attempt failed, or they were never attempted.
pub(crate) const RECOVERY_ADOPT_HELD: &str = "UPDATE deliveries SET recovery_id = {recovery} \
     WHERE hook_id = {hook} AND state = 'held' AND event_id IN \
         (SELECT id FROM events WHERE created_at >= {since} AND created_at <= {until})";

/// [`RECOVERY_INSERT`] with a backend's placeholders and boolean literals.
pub(crate) fn recovery_insert(
    placeholder: impl Fn(usize) -> String,
    (false_literal, true_literal): (&str, &str),
) -> String {
    RECOVERY_INSERT
        .replace("{hook}", &placeholder(1))
        .replace("{since}", &placeholder(2))
        .replace("{until}", &placeholder(3))
        .replace("{now}", &placeholder(4))
        .replace("{recovery}", &placeholder(5))
        .replace("{false}", false_literal)
        .replace("{true}", true_literal)
}

/// [`RECOVERY_ADOPT_HELD`] with a backend's placeholders: 1–3 as in [`recovery_insert`],
/// 4 the recovery (it has no `{now}`).
pub(crate) fn recovery_adopt_held(placeholder: impl Fn(usize) -> String) -> String {
    RECOVERY_ADOPT_HELD
        .replace("{hook}", &placeholder(1))
        .replace("{since}", &placeholder(2))
        .replace("{until}", &placeholder(3))
        .replace("{recovery}", &placeholder(4))
}

/// A recovery with its progress, for `?1`/`$1` = recovery id and `?2`/`$2` = hook id
/// (read by [`read_recovery`]).
pub(crate) fn recovery_query(placeholder: impl Fn(usize) -> String) -> String {
    format!(
        "SELECT r.id, r.since, r.until, r.created_at, r.queued, \
                coalesce(sum(CASE WHEN d.state IN ('succeeded', 'failed') THEN 1 ELSE 0 END), 0), \
                coalesce(sum(CASE WHEN d.state = 'succeeded' THEN 1 ELSE 0 END), 0), \
                coalesce(sum(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END), 0), \
                coalesce(sum(CASE WHEN d.state IN ('pending', 'held') THEN 1 ELSE 0 END), 0) \
         FROM recoveries r LEFT JOIN deliveries d ON d.recovery_id = r.id \
         WHERE r.id = {} AND r.hook_id = {} \
         GROUP BY r.id, r.since, r.until, r.created_at, r.queued",
        placeholder(1),
        placeholder(2)
    )
}

/// A row of [`recovery_query`].
pub(crate) fn read_recovery<R: Columns>(row: &R) -> Result<Recovery, R::Error> {
    let count = |index| row.int(index).map(i64::unsigned_abs);
    Ok(Recovery {
        id: row.int(0)?,
        since: Timestamp(row.int(1)?),
        until: row.opt_int(2)?.map(Timestamp),
        created_at: Timestamp(row.int(3)?),
        queued: count(4)?,
        done: count(5)?,
        succeeded: count(6)?,
        failed: count(7)?,
        pending: count(8)?,
    })
}

/// The hook's running recovery, if any, for `?1`/`$1` = hook id: one with deliveries still
/// to attempt (held ones included: they go when the hook is re-activated).
pub(crate) const RUNNING_RECOVERY_QUERY: &str = "SELECT r.id FROM recoveries r \
     WHERE r.hook_id = {hook} AND EXISTS (SELECT 1 FROM deliveries d \
         WHERE d.recovery_id = r.id AND d.state IN ('pending', 'held')) \
     ORDER BY r.id DESC LIMIT 1";

/// How long an `Idempotency-Key` is remembered.
pub(crate) const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The first response to a publish with an `Idempotency-Key`, as kept for replays.
pub(crate) fn idempotent_reply(guid: &str, deliveries: u64) -> String {
    format!("{guid} {deliveries}")
}

/// Reads back what [`idempotent_reply`] wrote.
pub(crate) fn parse_idempotent_reply(reply: &str) -> Result<(String, u64), StoreError> {
    reply
        .split_once(' ')
        .and_then(|(guid, count)| Some((guid.to_owned(), count.parse().ok()?)))
        .ok_or_else(|| StoreError::Corrupt("an idempotency record".to_owned()))
}

/// A repository or organization hook's scope from the names stored for it: the owner's
/// login and repository name, or the organization's login.
pub(crate) fn scope_from_names(
    owner: Option<&str>,
    repo: Option<&str>,
    org: Option<&str>,
) -> Result<HookScope, StoreError> {
    let corrupt = || StoreError::Corrupt("a hook's repository or organization".to_owned());
    match (owner, repo, org) {
        (Some(owner), Some(repo), _) => Ok(HookScope::Repository {
            owner: Login::parse(owner).ok_or_else(corrupt)?,
            repo: RepoName::parse(repo).ok_or_else(corrupt)?,
        }),
        (_, _, Some(org)) => Ok(HookScope::Organization {
            org: Login::parse(org).ok_or_else(corrupt)?,
        }),
        _ => Err(corrupt()),
    }
}

/// The columns every token query selects, in this order: the token's, then one owner per
/// row (`NULL` for a token without owners), ordered by token id.
pub(crate) const TOKEN_COLUMNS: &str = "t.id, t.scope, t.created_at, t.expires_at, \
     t.revoked_at, t.last_used_at, o.owner";

/// One row selecting [`TOKEN_COLUMNS`]: the token (without owners) and the row's owner.
pub(crate) fn read_token_row<R: Columns>(
    row: &R,
) -> Result<(TokenRecord, Option<Login>), R::Error> {
    let scope = row.text(1)?;
    let token = TokenRecord {
        id: row.int(0)?,
        owners: Vec::new(),
        scope: TokenScope::parse(&scope)
            .ok_or_else(|| row.corrupt(1, format!("token scope {scope:?}")))?,
        created_at: Timestamp(row.int(2)?),
        expires_at: row.opt_int(3)?.map(Timestamp),
        revoked_at: row.opt_int(4)?.map(Timestamp),
        last_used_at: row.opt_int(5)?.map(Timestamp),
    };
    let owner = match row.opt_text(6)? {
        Some(owner) => Some(
            Login::parse(&owner).ok_or_else(|| row.corrupt(6, format!("token owner {owner:?}")))?,
        ),
        None => None,
    };
    Ok((token, owner))
}

/// Tokens with their owners from [`read_token_row`]s ordered by token id.
pub(crate) fn group_tokens(rows: Vec<(TokenRecord, Option<Login>)>) -> Vec<TokenRecord> {
    let mut tokens: Vec<TokenRecord> = Vec::new();
    for (token, owner) in rows {
        if tokens.last().is_none_or(|last| last.id != token.id) {
            tokens.push(token);
        }
        if let (Some(last), Some(owner)) = (tokens.last_mut(), owner) {
            last.owners.push(owner);
        }
    }
    tokens
}

/// The migrations of `migrations` a database at schema `version` still needs.
///
/// # Errors
/// When the version is negative, or newer than this build knows (a newer Hookpost wrote it).
pub(crate) fn pending_migrations<'m>(
    migrations: &'m [&'m str],
    version: i64,
) -> Result<&'m [&'m str], StoreError> {
    let applied = usize::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?;
    migrations.get(applied..).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "schema version {version} is newer than this Hookpost knows ({})",
            migrations.len()
        ))
    })
}

/// A result row, read the same way whatever the database: each backend implements this for
/// its driver's row, and the row → record rules below are written once for both.
pub(crate) trait Columns {
    /// The driver's error (a `rusqlite::Error` can be returned from a query closure).
    type Error;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    fn boolean(&self, index: usize) -> Result<bool, Self::Error>;
    /// Column `index` holds what this version cannot read.
    fn corrupt(&self, index: usize, why: String) -> Self::Error;
}

/// A JSON column.
fn json_column<R: Columns, T: serde::de::DeserializeOwned>(
    row: &R,
    index: usize,
) -> Result<T, R::Error> {
    serde_json::from_str(&row.text(index)?)
        .map_err(|error| row.corrupt(index, format!("a JSON column: {error}")))
}

/// The columns of a hook's `config` (a literal, so that [`HOOK_COLUMNS`] can include it).
macro_rules! config_columns {
    () => {
        "h.url, h.content_type, h.secret, h.insecure_ssl, h.headers, h.signature, \
         h.previous_secret, h.previous_secret_expires_at, h.retry_schedule, h.rate_limit, \
         h.ordering"
    };
}

/// The columns of a hook's `config`, in this order (read by [`read_config`]).
pub(crate) const CONFIG_COLUMNS: &str = config_columns!();

/// A hook's config from the [`CONFIG_COLUMNS`] of a row, starting at column `at`.
pub(crate) fn read_config<R: Columns>(row: &R, at: usize) -> Result<HookConfig, R::Error> {
    let signature = row.text(at + 5)?;
    let previous_secret = match (row.opt_text(at + 6)?, row.opt_int(at + 7)?) {
        (Some(secret), Some(expires_at)) => Some(PreviousSecret {
            secret: Secret::new(secret),
            expires_at: Timestamp(expires_at),
        }),
        _ => None,
    };
    let retry_schedule = match row.opt_text(at + 8)? {
        Some(text) => Some(RetrySchedule::for_hook(&text).map_err(|why| row.corrupt(at + 8, why))?),
        None => None,
    };
    let rate_limit = match row.opt_int(at + 9)? {
        Some(rate) => Some(RateLimit::new(rate).map_err(|why| row.corrupt(at + 9, why))?),
        None => None,
    };
    let ordering = row.text(at + 10)?;
    let ordering = DeliveryOrder::parse(&ordering).map_err(|why| row.corrupt(at + 10, why))?;
    Ok(HookConfig {
        url: row.text(at)?,
        content_type: ContentType::parse(&row.text(at + 1)?).unwrap_or(ContentType::Form),
        secret: row.opt_text(at + 2)?.map(Secret::new),
        insecure_ssl: row.boolean(at + 3)?,
        headers: CustomHeaders::from_json(&json_column(row, at + 4)?),
        signature: SignatureScheme::parse(&signature)
            .ok_or_else(|| row.corrupt(at + 5, format!("signature scheme {signature:?}")))?,
        previous_secret,
        retry_schedule,
        rate_limit,
        ordering,
    })
}

/// A config's [`CONFIG_COLUMNS`] values after `url`, `content_type`, `secret` and
/// `insecure_ssl`, as both backends write them.
pub(crate) struct ConfigExtras<'a> {
    /// JSON.
    pub(crate) headers: String,
    pub(crate) signature: &'static str,
    pub(crate) previous_secret: Option<&'a str>,
    pub(crate) previous_secret_expires_at: Option<i64>,
    /// `None` follows the server's schedule.
    pub(crate) retry_schedule: Option<String>,
    /// `None`: no limit.
    pub(crate) rate_limit: Option<i64>,
    pub(crate) ordering: &'static str,
}

pub(crate) fn config_extras(config: &HookConfig) -> ConfigExtras<'_> {
    let previous = config.previous_secret.as_ref();
    ConfigExtras {
        headers: config.headers.to_json().to_string(),
        signature: config.signature.as_str(),
        previous_secret: previous.map(|previous| previous.secret.expose()),
        previous_secret_expires_at: previous.map(|previous| previous.expires_at.0),
        retry_schedule: config.retry_schedule.as_ref().map(RetrySchedule::to_text),
        rate_limit: config.rate_limit.map(|rate| i64::from(rate.per_second())),
        ordering: config.ordering.as_str(),
    }
}

/// The columns every hook query selects, in this order; queries may select more after
/// them, from column [`HOOK_COLUMN_COUNT`] on.
pub(crate) const HOOK_COLUMNS: &str = concat!(
    "h.id, h.name, h.active, CAST(h.events AS TEXT), h.created_at, h.updated_at, \
     h.last_status, h.last_code, h.last_message, ",
    config_columns!(),
    ", h.disabled_at, h.disabled_reason"
);
pub(crate) const HOOK_COLUMN_COUNT: usize = 22;

/// A hook from the [`HOOK_COLUMNS`] of a row, in `scope`.
pub(crate) fn read_hook<R: Columns>(row: &R, scope: &HookScope) -> Result<Hook, R::Error> {
    let last_code = row.opt_int(7)?;
    Ok(Hook {
        id: HookId(row.int(0)?),
        scope: scope.clone(),
        settings: HookSettings {
            name: row.text(1)?,
            active: row.boolean(2)?,
            events: json_column(row, 3)?,
            config: read_config(row, 9)?,
        },
        created_at: Timestamp(row.int(4)?),
        updated_at: Timestamp(row.int(5)?),
        last_response: last_response(
            row.opt_text(6)?.as_deref(),
            last_code.and_then(|code| u16::try_from(code).ok()),
            row.opt_text(8)?,
        ),
        disabled: match (row.opt_int(20)?, row.opt_text(21)?) {
            (Some(at), reason) => Some(Disabled {
                at: Timestamp(at),
                reason: reason.unwrap_or_default(),
            }),
            _ => None,
        },
    })
}

/// A hook just inserted with id `id`: nothing delivered yet.
pub(crate) fn created_hook(
    id: HookId,
    scope: HookScope,
    settings: &HookSettings,
    now: Timestamp,
) -> Hook {
    Hook {
        id,
        scope,
        settings: settings.clone(),
        created_at: now,
        updated_at: now,
        last_response: LastResponse::Unused,
        disabled: None,
    }
}

/// What a scope's objects query selects: the latest repository, organization and sender,
/// then Hookpost's ids of the repository and the account (`NULL` where the scope has none).
pub(crate) fn read_scope_objects<R: Columns>(row: &R) -> Result<ScopeObjects, R::Error> {
    Ok(ScopeObjects {
        latest: LatestObjects {
            repository: row.opt_text(0)?,
            organization: row.opt_text(1)?,
            sender: row.opt_text(2)?,
        },
        repository_id: row.opt_int(3)?,
        account_id: row.opt_int(4)?,
    })
}

/// A repository scope's objects, by the owner's and the repository's keys (`{1}`, `{2}`:
/// the dialect's placeholders).
pub(crate) const REPOSITORY_OBJECTS: &str = "SELECT r.latest_repository, a.latest_organization,
        coalesce(r.latest_sender, a.latest_sender), r.id, a.id
     FROM repositories r JOIN accounts a ON a.id = r.account_id
     WHERE a.login_key = {1} AND r.name_key = {2}";

/// An organization scope's objects, by its login key (`{1}`).
pub(crate) const ORGANIZATION_OBJECTS: &str = "SELECT CAST(NULL AS TEXT), latest_organization,
        latest_sender, CAST(NULL AS BIGINT), id
     FROM accounts WHERE login_key = {1}";

/// The columns every app query selects, in this order (`a` is the app).
pub(crate) const APP_COLUMNS: &str = "a.id, a.slug, a.name, a.client_id, a.public_key_pem, \
     a.events, a.created_at, a.updated_at, \
     (SELECT count(*) FROM installations i WHERE i.app_id = a.id), \
     (SELECT h.id FROM hooks h WHERE h.app_id = a.id)";

/// An app from the [`APP_COLUMNS`] of a row.
pub(crate) fn read_app<R: Columns>(row: &R) -> Result<AppRecord, R::Error> {
    Ok(AppRecord {
        id: AppId(row.int(0)?),
        slug: row.text(1)?,
        name: row.text(2)?,
        client_id: row.text(3)?,
        public_key_pem: row.text(4)?,
        events: json_column(row, 5)?,
        created_at: Timestamp(row.int(6)?),
        updated_at: Timestamp(row.int(7)?),
        installations_count: row.int(8)?.unsigned_abs(),
        hook_id: HookId(row.int(9)?),
    })
}

/// The columns every delivery-log query selects, in this order (`a` the attempt, `e` its
/// event).
pub(crate) const SUMMARY_COLUMNS: &str = "a.id, e.guid, a.delivered_at, a.redelivery, \
     a.duration_ms, a.status, a.status_code, e.name, e.action, a.installation_id, \
     e.target_repository_id, a.throttled_at, \
     (SELECT count(*) FROM attempts x WHERE x.delivery_id = a.delivery_id AND x.id <= a.id), \
     d.redelivery, \
     CASE WHEN d.state = 'pending' AND d.leased_by IS NULL AND NOT EXISTS \
         (SELECT 1 FROM attempts y WHERE y.delivery_id = a.delivery_id AND y.id > a.id) \
     THEN d.due_at END, \
     d.recovery_id IS NOT NULL";

/// An attempt's detail after its [`SUMMARY_COLUMNS`]: URL, request headers (the attempt's
/// values and its header set's template: none for attempts recorded before templates, and
/// an empty one, which reads as damaged, should the template be missing),
/// payload as published unless packed, response headers and body, and the payload packed
/// (`store::packing::stored` takes the two); read by [`request_headers`] and the backends.
pub(crate) const DETAIL_COLUMNS: &str = "a.url, a.request_headers, \
     CASE WHEN a.header_set_id IS NOT NULL THEN \
         coalesce((SELECT h.template FROM header_sets h WHERE h.id = a.header_set_id), '') END, \
     CASE WHEN e.payload_packed IS NULL THEN e.payload END, a.response_headers, \
     a.response_body, e.payload_packed";

/// The request headers of an attempt of the event `guid` from [`DETAIL_COLUMNS`]: the
/// template filled with the attempt's values (`store::header_sets`), or, for an attempt
/// recorded before templates, the whole list as it was stored.
pub(crate) fn request_headers(
    stored: &str,
    template: Option<&str>,
    guid: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    match template {
        Some(template) => {
            header_sets::join(template, stored, guid).ok_or_else(|| corrupt("request headers"))
        }
        None => Ok(headers_from_json(stored)),
    }
}

/// How many columns [`SUMMARY_COLUMNS`] are: a query's own columns follow them.
pub(crate) const SUMMARY_WIDTH: usize = 16;

/// The rows [`SUMMARY_COLUMNS`] read: attempts `a` with their event `e` and delivery `d`.
pub(crate) const SUMMARY_ROWS: &str =
    "attempts a JOIN events e ON e.id = a.event_id JOIN deliveries d ON d.id = a.delivery_id";

/// A value bound to one of [`log_filter`]'s placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogParam {
    Int(i64),
    Text(String),
}

/// A held delivery as a delivery-log item, in [`SUMMARY_COLUMNS`]' shape: its delivery's
/// id, its event's guid and publish time, status `held`, no response, attempt 0. (Written
/// to read the same on both backends: typed `NULL`s and numbers, `1 = 0` for false.)
const HELD_COLUMNS: &str = "d.id, e.guid, e.created_at, 1 = 0, CAST(0 AS BIGINT), 'held', \
     CAST(0 AS BIGINT), e.name, e.action, d.installation_id, e.target_repository_id, \
     CAST(NULL AS BIGINT), CAST(0 AS BIGINT), d.redelivery, CAST(NULL AS BIGINT), \
     d.recovery_id IS NOT NULL";

/// A delivery-log page's statement without its `LIMIT`, and the values of its
/// placeholders: the hook's attempts under [`log_filter`], or, for `status=held`, its held
/// deliveries (the cursors then count delivery ids; the other filters do not apply).
pub(crate) fn log_page(
    hook_id: HookId,
    query: &AttemptQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<LogParam>) {
    let order = if query.oldest_first { "ASC" } else { "DESC" };
    let (rows, filter, values) = log_rows(hook_id, query, placeholder);
    let (columns, id) = if query.status == Some(StatusClass::Held) {
        (HELD_COLUMNS, "d.id")
    } else {
        (SUMMARY_COLUMNS, "a.id")
    };
    (
        format!("SELECT {columns} FROM {rows} WHERE {filter} ORDER BY {id} {order}"),
        values,
    )
}

/// A statement counting what a delivery-log query selects, no further than the last of
/// its values (the cap, bound last), and the values of its placeholders.
pub(crate) fn log_count(
    hook_id: HookId,
    query: &AttemptQuery,
    cap: u32,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<LogParam>) {
    let (rows, filter, mut values) = log_rows(hook_id, query, &placeholder);
    values.push(LogParam::Int(i64::from(cap)));
    let cap = placeholder(values.len());
    (
        format!("SELECT count(*) FROM (SELECT 1 FROM {rows} WHERE {filter} LIMIT {cap}) counted"),
        values,
    )
}

/// The rows a delivery-log query reads and its `WHERE` clause: the hook's attempts
/// (`a`, with event `e` and delivery `d`) under [`log_filter`], or its held deliveries.
fn log_rows(
    hook_id: HookId,
    query: &AttemptQuery,
    placeholder: impl Fn(usize) -> String,
) -> (&'static str, String, Vec<LogParam>) {
    if query.status == Some(StatusClass::Held) {
        let filter = format!(
            "d.hook_id = {} AND d.id < {} AND d.id > {} AND d.state = 'held'",
            placeholder(1),
            placeholder(2),
            placeholder(3)
        );
        return (HELD_ROWS, filter, cursor_values(hook_id, query));
    }
    let (filter, values) = log_filter(hook_id, query, placeholder);
    (SUMMARY_ROWS, filter, values)
}

/// The rows [`HELD_COLUMNS`] read: deliveries `d` with their event `e`.
const HELD_ROWS: &str = "deliveries d JOIN events e ON e.id = d.event_id";

/// The hook and the two cursors (`before`, `after`; open when unset), the first three
/// values of every delivery-log query.
fn cursor_values(hook_id: HookId, query: &AttemptQuery) -> Vec<LogParam> {
    vec![
        LogParam::Int(hook_id.0),
        LogParam::Int(query.before.map_or(i64::MAX, |id| id.0)),
        LogParam::Int(query.after.map_or(0, |id| id.0)),
    ]
}

/// The `WHERE` clause of a delivery-log page over [`SUMMARY_ROWS`]: only the filters the
/// query sets are written (so each form of the statement gets a plan that uses its
/// indexes), with `placeholder(n)` for the n-th (1-based) of the returned values.
fn log_filter(
    hook_id: HookId,
    query: &AttemptQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<LogParam>) {
    let mut params = cursor_values(hook_id, query);
    let mut clause = format!(
        "a.hook_id = {} AND a.id < {} AND a.id > {}",
        placeholder(1),
        placeholder(2),
        placeholder(3)
    );
    let bind = |params: &mut Vec<LogParam>, value: LogParam| {
        params.push(value);
        placeholder(params.len())
    };
    if let Some(redelivery) = query.redelivery {
        clause.push_str(if redelivery {
            " AND a.redelivery"
        } else {
            " AND NOT a.redelivery"
        });
    }
    match query.status {
        None | Some(StatusClass::Held) => {}
        Some(StatusClass::Success) => clause.push_str(" AND a.status_code BETWEEN 200 AND 399"),
        // As the partial index `attempts_failed_by_hook` is written, so that it serves it.
        Some(StatusClass::Failure) => {
            clause.push_str(" AND (a.status_code = 0 OR a.status_code BETWEEN 400 AND 599)")
        }
    }
    match query.trigger {
        None => {}
        Some(Trigger::Publish) => clause.push_str(" AND NOT a.redelivery"),
        Some(Trigger::Retry) => clause.push_str(" AND a.redelivery AND NOT d.redelivery"),
        Some(Trigger::Redelivery) => {
            clause.push_str(" AND d.redelivery AND d.recovery_id IS NULL");
        }
        Some(Trigger::Recovery) => clause.push_str(" AND d.recovery_id IS NOT NULL"),
    }
    if let Some(event) = &query.event {
        let name = bind(&mut params, LogParam::Text(event.clone()));
        clause.push_str(&format!(" AND e.name = {name}"));
    }
    if let Some(guid) = &query.guid {
        let guid = bind(&mut params, LogParam::Text(guid.clone()));
        // Through the delivery: attempts are indexed by delivery, deliveries by event.
        clause.push_str(&format!(
            " AND a.delivery_id IN (SELECT g.id FROM deliveries g \
               WHERE g.hook_id = {} AND g.event_id = (SELECT id FROM events WHERE guid = {guid}))",
            placeholder(1)
        ));
    }
    if let Some(since) = query.since {
        let since = bind(&mut params, LogParam::Int(since.0));
        clause.push_str(&format!(" AND a.delivered_at >= {since}"));
    }
    if let Some(until) = query.until {
        let until = bind(&mut params, LogParam::Int(until.0));
        clause.push_str(&format!(" AND a.delivered_at <= {until}"));
    }
    (clause, params)
}

/// A delivery-log item from the [`SUMMARY_COLUMNS`] of a row.
pub(crate) fn read_summary<R: Columns>(row: &R) -> Result<AttemptSummary, R::Error> {
    Ok(AttemptSummary {
        id: AttemptId(row.int(0)?),
        guid: row.text(1)?,
        delivered_at: Timestamp(row.int(2)?),
        redelivery: row.boolean(3)?,
        duration_ms: row.int(4)?,
        status: row.text(5)?,
        status_code: u16::try_from(row.int(6)?).unwrap_or(0),
        event: row.text(7)?,
        action: row.opt_text(8)?,
        installation_id: row.opt_int(9)?.map(InstallationId),
        repository_id: row.opt_int(10)?,
        throttled_at: row.opt_int(11)?.map(Timestamp),
        attempt_number: u32::try_from(row.int(12)?).unwrap_or(u32::MAX),
        trigger: Trigger::of(row.boolean(3)?, row.boolean(13)?, row.boolean(15)?),
        next_attempt_at: row.opt_int(14)?.map(Timestamp),
    })
}

/// The hooks with the most due deliveries at `?1`, at most `?2` of them: hook id, count,
/// oldest due time.
pub(crate) const BUSIEST_HOOKS_QUERY: &str = "SELECT hook_id, count(*), min(due_at) \
     FROM deliveries WHERE due_at IS NOT NULL AND due_at <= ?1 \
     GROUP BY hook_id ORDER BY count(*) DESC, hook_id LIMIT ?2";

/// Seconds from `oldest` to `now` (0 without one).
pub(crate) fn age_seconds(oldest: Option<i64>, now: Timestamp) -> f64 {
    oldest.map_or(0.0, |at| (now.0 - at).max(0) as f64 / 1000.0)
}

/// A row of [`BUSIEST_HOOKS_QUERY`].
pub(crate) fn hook_backlog(hook_id: i64, due: i64, oldest: i64, now: Timestamp) -> HookBacklog {
    HookBacklog {
        hook_id: HookId(hook_id),
        due: due.unsigned_abs(),
        oldest_due_age_seconds: age_seconds(Some(oldest), now),
    }
}
