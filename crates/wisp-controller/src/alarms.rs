//! Alarms: triggers fired on a schedule, made through the
//! `/whisk.system/alarms/{alarm,interval,once}` feeds (see
//! [`handlers::feeds`](crate::handlers::feeds)).
//!
//! An alarm is a registry entity of kind [`KIND`] under its trigger's
//! namespace and name (one alarm per trigger), so it lives as long as the
//! registry does. One scheduler task ([`spawn`]) sleeps until the earliest next
//! tick of every active alarm, then fires the due ones through
//! [`triggers::fire`], the path `POST .../triggers/{name}` takes.
//!
//! Each alarm remembers since when it counts ticks (`since`: made, updated,
//! resumed, or last fired). Its next tick is the first after that, so a tick
//! missed while the server was down fires once at start, never once per
//! missed tick.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::Controller;
use crate::error::ApiError;
use crate::handlers::triggers;

/// Entity kind of alarms in the registry.
pub const KIND: &str = "feed";

/// The scheduler never sleeps longer than this, so a change of the wall
/// clock is seen within it.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Which feed made an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    /// `/whisk.system/alarms/alarm`: a cron expression.
    Alarm,
    /// `/whisk.system/alarms/interval`: every `minutes`.
    Interval,
    /// `/whisk.system/alarms/once`: at one `date`.
    Once,
}

impl Feed {
    /// The feed of an action name under `/whisk.system/alarms/`.
    pub fn named(name: &str) -> Option<Feed> {
        match name {
            "alarm" => Some(Feed::Alarm),
            "interval" => Some(Feed::Interval),
            "once" => Some(Feed::Once),
            _ => None,
        }
    }

    /// Its action name.
    pub fn name(self) -> &'static str {
        match self {
            Feed::Alarm => "alarm",
            Feed::Interval => "interval",
            Feed::Once => "once",
        }
    }
}

/// Whether an alarm fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It fires at its ticks.
    Active,
    /// Paused by a `PAUSE` lifecycle call; ticks pass without firing.
    Paused,
    /// Done: its one date passed, its `maxTriggers` fired, or its stop date
    /// passed. Kept so `READ` shows it, until its trigger or it is deleted.
    Completed,
}

/// A stored alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// The feed that made it.
    pub feed: Feed,
    /// `alarm`: its cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// `alarm`: the time zone the expression is read in; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `interval`: minutes between ticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
    /// `once`: its one tick, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    /// What each firing passes to the trigger.
    pub payload: Value,
    /// No tick before this (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<i64>,
    /// No tick after this (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<i64>,
    /// At most this many firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_triggers: Option<u64>,
    /// Whether it fires.
    pub status: Status,
    /// Firings so far.
    pub fired: u64,
    /// When it last fired (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired: Option<i64>,
    /// Where an interval's ticks are counted from when it has no start date:
    /// when it was made or last updated (ms).
    pub anchor: i64,
    /// Its next tick is the first after this (ms).
    pub since: i64,
    /// The key that made it; its firings run as this subject.
    pub subject: String,
}

/// Parses a cron expression of 5 fields (minute, hour, day of month, month,
/// day of week) or 6 (seconds first), or an alias such as `@hourly`.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    let alias = fields == 1 && expr.trim_start().starts_with('@');
    if !alias && fields != 5 && fields != 6 {
        return Err(format!(
            "a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first); '{expr}' has {fields}"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("'{expr}' is not a valid cron expression: {e}"))
}

/// The time zone named `name` (an IANA name such as `Europe/Berlin`, read
/// from the system's zoneinfo); UTC when absent.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name.map(str::trim) {
        None | Some("" | "UTC" | "Etc/UTC" | "Z") => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|e| {
            format!(
                "'{name}' is not a time zone wisp knows (an IANA name such as Europe/Berlin): {e}"
            )
        }),
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// A time in ms as RFC 3339 (UTC), for views.
pub fn iso(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl Alarm {
    /// A new active alarm of `feed` made at `now` (ms) by key `subject`, with
    /// no schedule yet: the feed's parameters are set on it next.
    pub fn new(feed: Feed, now: i64, subject: String) -> Alarm {
        Alarm {
            feed,
            cron: None,
            timezone: None,
            minutes: None,
            date: None,
            payload: json!({}),
            start_date: None,
            stop_date: None,
            max_triggers: None,
            status: Status::Active,
            fired: 0,
            last_fired: None,
            anchor: now,
            since: now,
            subject,
        }
    }

    /// The stored alarm of trigger `ns/name`, if it has one.
    pub fn load(ctl: &Controller, ns: &str, name: &str) -> Result<Option<Alarm>, ApiError> {
        match ctl.registry.get_entity(KIND, ns, name)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(ApiError::internal),
        }
    }

    /// Stores it as the alarm of trigger `ns/name` (a 409 when it has one and
    /// `overwrite` is false).
    pub fn save(
        &self,
        ctl: &Controller,
        ns: &str,
        name: &str,
        overwrite: bool,
    ) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(self).map_err(ApiError::internal)?;
        ctl.registry.put_entity(KIND, ns, name, &bytes, overwrite)?;
        Ok(())
    }

    /// The first tick strictly after `after` (ms) and inside its start and
    /// stop dates; `None` when no tick is left.
    pub fn next_tick(&self, after: i64) -> Result<Option<i64>, String> {
        // Ticks at or after the start date.
        let after = match self.start_date {
            Some(start) if start - 1 > after => start - 1,
            _ => after,
        };
        let tick = match self.feed {
            Feed::Alarm => {
                let cron = parse_cron(self.cron.as_deref().unwrap_or_default())?;
                let tz = time_zone(self.timezone.as_deref())?;
                let from = Timestamp::from_millisecond(after)
                    .map_err(|e| e.to_string())?
                    .to_zoned(tz);
                // A pattern that never matches (30 February) has no next tick.
                match cron.find_next_occurrence(&from, false) {
                    Ok(next) => next.timestamp().as_millisecond(),
                    Err(_) => return Ok(None),
                }
            }
            Feed::Interval => {
                let period = i64::try_from(self.minutes.unwrap_or(0).saturating_mul(60_000))
                    .map_err(|e| e.to_string())?;
                if period <= 0 {
                    return Err("an interval alarm needs minutes ≥ 1".into());
                }
                // With a start date the first tick is that date; without,
                // one period after the alarm was made (as a timer's would).
                let first = self.start_date.unwrap_or(self.anchor + period);
                if after < first {
                    first
                } else {
                    first + ((after - first) / period + 1) * period
                }
            }
            Feed::Once => match self.date {
                Some(date) if date > after => date,
                _ => return Ok(None),
            },
        };
        Ok(match self.stop_date {
            Some(stop) if tick > stop => None,
            _ => Some(tick),
        })
    }

    /// What a `READ` (and every lifecycle call but `DELETE`) answers: the
    /// alarm's configuration and its state.
    pub fn view(&self, ns: &str, trigger: &str) -> Value {
        let next = (self.status == Status::Active)
            .then(|| self.next_tick(self.since).ok().flatten())
            .flatten();
        json!({
            "config": {
                "name": trigger,
                "namespace": ns,
                "triggerName": format!("/{ns}/{trigger}"),
                "feed": format!("/whisk.system/alarms/{}", self.feed.name()),
                "cron": self.cron,
                "timezone": self.timezone,
                "minutes": self.minutes,
                "date": self.date.map(iso),
                "trigger_payload": self.payload,
                "startDate": self.start_date.map(iso),
                "stopDate": self.stop_date.map(iso),
                "maxTriggers": self.max_triggers,
            },
            "status": {
                "active": self.status == Status::Active,
                "state": self.status,
                "fired": self.fired,
                "lastFired": self.last_fired.map(iso),
                "nextTick": next.map(iso),
            },
        })
    }
}

/// The scheduler's lock and wake-up. Every change of an alarm (lifecycle
/// calls, a trigger's deletion) and each scheduler pass hold the lock, so a
/// pass never writes back an alarm that was deleted or changed meanwhile.
#[derive(Debug, Default)]
pub struct Alarms {
    lock: Mutex<()>,
    wake: Notify,
}

impl Alarms {
    /// Holds off the scheduler while an alarm changes.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the scheduler an alarm changed: it recomputes its next wake-up.
    pub fn changed(&self) {
        self.wake.notify_one();
    }
}

/// Deletes the alarm of a trigger (the trigger was deleted); whether there
/// was one.
pub fn forget(ctl: &Controller, ns: &str, trigger: &str) -> Result<bool, ApiError> {
    let removed = {
        let _held = ctl.alarms.lock();
        ctl.registry.delete_entity(KIND, ns, trigger)?.is_some()
    };
    if removed {
        ctl.alarms.changed();
    }
    Ok(removed)
}

/// The lease a fleet's alarms run under: one node fires them at a time.
const LEASE: &str = "alarms";
/// How long the lease lasts unrenewed: a node that stops leaves the alarms
/// to another within this.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often a fleet's scheduler passes at the least: the holder renews its
/// lease, the others try to take it.
const FLEET_SLEEP: Duration = Duration::from_secs(5);

/// Starts the scheduler; it stops when the server drains. On a shared
/// registry only the node holding the alarms' lease fires them, so each tick
/// fires once across the fleet.
pub fn spawn(ctl: Arc<Controller>, shared: bool) {
    let longest = if shared { FLEET_SLEEP } else { MAX_SLEEP };
    tokio::spawn(async move {
        loop {
            if ctl.lifecycle().draining() {
                return;
            }
            let held = !shared
                || ctl
                    .registry
                    .lease(LEASE, ctl.node_id(), LEASE_TTL)
                    .unwrap_or_else(|e| {
                        tracing::warn!("alarms: cannot take the lease: {e}");
                        false
                    });
            let next = match if held { pass(&ctl, now_ms()) } else { Ok(None) } {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!("alarms: cannot read the alarms: {}", e.message);
                    None
                }
            };
            let wait = next.map_or(longest, |t| {
                Duration::from_millis(u64::try_from(t - now_ms()).unwrap_or(0)).min(longest)
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = ctl.alarms.wake.notified() => {}
            }
        }
    });
}

/// Fires every active alarm whose next tick is due at `now`; the earliest
/// next tick of them all.
fn pass(ctl: &Arc<Controller>, now: i64) -> Result<Option<i64>, ApiError> {
    let _held = ctl.alarms.lock();
    let mut earliest: Option<i64> = None;
    let mut soonest = |t: i64| earliest = Some(earliest.map_or(t, |e| e.min(t)));
    for (ns, name, bytes) in ctl.registry.all_entities(KIND)? {
        let mut alarm: Alarm = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(trigger = %format!("{ns}/{name}"), "alarms: skipping a stored alarm that cannot be read: {e}");
                continue;
            }
        };
        if alarm.status != Status::Active {
            continue;
        }
        match alarm.next_tick(alarm.since) {
            Ok(Some(due)) if due > now => {
                soonest(due);
                continue;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                alarm.status = Status::Completed;
                store(ctl, &ns, &name, &bytes, &alarm);
                continue;
            }
            Err(e) => {
                // Its schedule cannot be read now (a time zone gone from the
                // system's zoneinfo): it stays as it is, and is looked at again.
                tracing::warn!(trigger = %format!("{ns}/{name}"), "alarms: cannot compute the next tick: {e}");
                soonest(now + i64::try_from(MAX_SLEEP.as_millis()).unwrap_or(i64::MAX));
                continue;
            }
        }
        match triggers::fire(ctl, &ns, &alarm.subject, &name, alarm.payload.clone()) {
            Ok(id) => {
                tracing::debug!(trigger = %format!("{ns}/{name}"), activation = %id, "alarm fired");
                alarm.fired += 1;
                alarm.last_fired = Some(now);
            }
            Err(e) if e.status == StatusCode::NOT_FOUND => {
                // Its trigger is gone (a namespace deletion takes both, but a
                // pass may have been under way): so is the alarm.
                tracing::info!(trigger = %format!("{ns}/{name}"), "alarms: the trigger is gone, removing its alarm");
                if let Err(e) = ctl.registry.delete_entity(KIND, &ns, &name) {
                    tracing::error!(trigger = %format!("{ns}/{name}"), "alarms: cannot remove the alarm: {e}");
                }
                continue;
            }
            Err(e) => {
                // Not counted towards maxTriggers; the tick is not retried.
                tracing::warn!(trigger = %format!("{ns}/{name}"), "alarms: cannot fire: {}", e.message);
            }
        }
        alarm.since = now;
        let used_up = alarm.max_triggers.is_some_and(|max| alarm.fired >= max);
        match alarm.next_tick(now) {
            Ok(Some(next)) if !used_up => soonest(next),
            _ => alarm.status = Status::Completed,
        }
        store(ctl, &ns, &name, &bytes, &alarm);
    }
    Ok(earliest)
}

/// Writes an alarm back after a pass changed it. The pass holds the lock, so
/// the alarm cannot have been deleted meanwhile.
fn store(ctl: &Controller, ns: &str, name: &str, read: &[u8], alarm: &Alarm) {
    let written = serde_json::to_vec(alarm)
        .map_err(|e| e.to_string())
        .and_then(|new| {
            ctl.registry
                .replace_entity(KIND, ns, name, read, &new)
                .map_err(|e| e.to_string())
        });
    match written {
        Ok(true) => {}
        // Paused, changed or deleted meanwhile (through another node of a
        // fleet): that change stands.
        Ok(false) => {
            tracing::debug!(trigger = %format!("{ns}/{name}"), "alarms: the alarm changed during the pass; its new state stands")
        }
        Err(e) => {
            tracing::error!(trigger = %format!("{ns}/{name}"), "alarms: cannot store the alarm's state: {e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn alarm(feed: Feed) -> Alarm {
        Alarm::new(feed, ms("2026-01-01T00:00:00Z"), "k".into())
    }

    #[test]
    fn cron_takes_five_or_six_fields() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("*/2 * * * * *").is_ok());
        assert!(parse_cron("@hourly").is_ok());
        for bad in ["* * * *", "* * * * * * *", "61 * * * *", "nonsense", ""] {
            assert!(parse_cron(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cron_ticks_follow_the_pattern_the_zone_and_the_dates() {
        let mut a = alarm(Feed::Alarm);
        a.cron = Some("*/2 * * * * *".into());
        let t0 = ms("2026-01-01T00:00:00.500Z");
        assert_eq!(a.next_tick(t0).unwrap(), Some(ms("2026-01-01T00:00:02Z")));
        assert_eq!(
            a.next_tick(ms("2026-01-01T00:00:02Z")).unwrap(),
            Some(ms("2026-01-01T00:00:04Z"))
        );
        // Five fields: minutes.
        a.cron = Some("30 8 * * *".into());
        assert_eq!(a.next_tick(t0).unwrap(), Some(ms("2026-01-01T08:30:00Z")));
        a.timezone = Some("Europe/Berlin".into());
        assert_eq!(a.next_tick(t0).unwrap(), Some(ms("2026-01-01T07:30:00Z")));
        a.timezone = Some("Mars/Olympus".into());
        assert!(a.next_tick(t0).is_err());
        a.timezone = None;
        a.start_date = Some(ms("2026-03-01T00:00:00Z"));
        assert_eq!(a.next_tick(t0).unwrap(), Some(ms("2026-03-01T08:30:00Z")));
        a.stop_date = Some(ms("2026-03-01T08:00:00Z"));
        assert_eq!(a.next_tick(t0).unwrap(), None);
        a.start_date = None;
        a.stop_date = None;
        a.cron = Some("0 0 30 2 *".into());
        assert_eq!(a.next_tick(t0).unwrap(), None, "30 February never comes");
    }

    #[test]
    fn interval_ticks_count_from_the_start_or_the_making() {
        let mut a = alarm(Feed::Interval);
        a.minutes = Some(5);
        let made = a.anchor;
        assert_eq!(a.next_tick(made).unwrap(), Some(made + 300_000));
        assert_eq!(a.next_tick(made + 300_000).unwrap(), Some(made + 600_000));
        // A long gap: the next tick on the grid, not the missed ones.
        assert_eq!(
            a.next_tick(made + 3_000_001).unwrap(),
            Some(made + 3_300_000)
        );
        a.start_date = Some(made + 60_000);
        assert_eq!(a.next_tick(made).unwrap(), Some(made + 60_000));
        assert_eq!(a.next_tick(made + 60_000).unwrap(), Some(made + 360_000));
        a.minutes = Some(0);
        assert!(a.next_tick(made).is_err());
    }

    #[test]
    fn once_ticks_once() {
        let mut a = alarm(Feed::Once);
        a.date = Some(a.anchor + 1000);
        assert_eq!(a.next_tick(a.anchor).unwrap(), Some(a.anchor + 1000));
        assert_eq!(a.next_tick(a.anchor + 1000).unwrap(), None);
    }
}
