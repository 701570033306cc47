//! The alarms feeds: `POST /api/v1/namespaces/whisk.system/actions/alarms/{alarm|interval|once}`,
//! as OpenWhisk's clients invoke a feed action (`feeds.create`, `get`,
//! `update`, `delete`): a blocking invocation whose parameters carry the
//! `lifecycleEvent`, the `triggerName` and the feed's own parameters.
//!
//! wisp serves these actions itself, for any key, on the caller's own
//! triggers; the alarm it keeps is scheduled by [`crate::alarms`]. Each call is
//! answered, and recorded in the caller's namespace, as an activation of the
//! feed action whose result is the alarm's configuration and state.

use std::sync::Arc;

use http::{Request, StatusCode};
use jiff::Timestamp;
use serde_json::{Value, json};
use wisp_api::events::FeedRequest;

use crate::Controller;
use crate::activations::{ActivationId, InstantRecord, next_order, salt};
use crate::alarms::{self, Alarm, Feed, KIND, Status};
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::{rules, triggers};
use crate::keys::Caller;

/// Answers one feed lifecycle call of an authenticated caller.
pub async fn invoke<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    caller: &Caller,
    feed: &str,
) -> ApiResult {
    let Some(feed) = Feed::named(feed) else {
        return Err(ApiError::not_found(format!(
            "there is no feed /whisk.system/alarms/{feed}: wisp serves alarm, interval and once"
        )));
    };
    let result_only = extract::flag(req.uri().query(), "result");
    let body = extract::whole(req, ctl.config.max_body_bytes, ctl.config.body_timeout).await?;
    let request: FeedRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the feed parameters are not valid (a JSON object with lifecycleEvent, triggerName and the feed's parameters): {e}"
        ))
    })?;
    let ns = caller.namespace.as_str();
    let trigger = rules::entity_path("alarm", "triggerName", Some(&request.trigger_name), ns)?;
    let name = trigger.name.as_str();
    let result = {
        let _held = ctl.alarms.lock();
        match request.lifecycle_event.to_ascii_uppercase().as_str() {
            "CREATE" => create(ctl, caller, feed, &request, name)?,
            "READ" => stored(ctl, ns, name)?.view(ns, name),
            "UPDATE" => update(ctl, feed, &request, name, ns)?,
            "DELETE" => {
                ctl.registry
                    .delete_entity(KIND, ns, name)?
                    .ok_or_else(|| no_alarm(ns, name))?;
                json!({})
            }
            event @ ("PAUSE" | "UNPAUSE") => {
                let mut alarm = stored(ctl, ns, name)?;
                let wanted = if event == "PAUSE" {
                    Status::Paused
                } else {
                    Status::Active
                };
                if alarm.status != Status::Completed && alarm.status != wanted {
                    alarm.status = wanted;
                    // Ticks that passed while it was paused do not fire.
                    alarm.since = alarms::now_ms();
                    alarm.save(ctl, ns, name, true)?;
                }
                alarm.view(ns, name)
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "'{other}' is not a feed lifecycle event: use CREATE, READ, UPDATE, DELETE, PAUSE or UNPAUSE"
                )));
            }
        }
    };
    ctl.alarms.changed();
    if result_only {
        return Ok(respond::json(StatusCode::OK, &result));
    }
    let start_us = next_order();
    let id = ActivationId::new(start_us, salt());
    let path = format!("whisk.system/alarms/{}", feed.name());
    let what = InstantRecord {
        namespace: ns,
        name: feed.name(),
        version: "0.0.1",
        subject: &caller.key_id,
        kind: "feed",
        path: &path,
    };
    let doc = ctl
        .activations
        .record_instant(&what, &id, start_us, result, Vec::new());
    Ok(respond::with_activation_id(
        respond::json(StatusCode::OK, &doc),
        id.as_str(),
    ))
}

fn no_alarm(ns: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("trigger {ns}/{name} has no alarm"))
}

fn stored(ctl: &Controller, ns: &str, name: &str) -> Result<Alarm, ApiError> {
    Alarm::load(ctl, ns, name)?.ok_or_else(|| no_alarm(ns, name))
}

/// `CREATE`: an alarm for an existing trigger that has none.
fn create(
    ctl: &Controller,
    caller: &Caller,
    feed: Feed,
    request: &FeedRequest,
    name: &str,
) -> Result<Value, ApiError> {
    let ns = caller.namespace.as_str();
    if triggers::load(ctl, ns, name)?.is_none() {
        return Err(ApiError::not_found(format!(
            "trigger {ns}/{name} does not exist: create it before its alarm"
        )));
    }
    let now = alarms::now_ms();
    let mut alarm = Alarm::new(feed, now, caller.key_id.clone());
    apply(&mut alarm, request, now)?;
    if ctl.registry.get_entity(KIND, ns, name)?.is_some() {
        return Err(ApiError::conflict(format!(
            "trigger {ns}/{name} already has an alarm: UPDATE it, or DELETE it first"
        )));
    }
    alarm.save(ctl, ns, name, false)?;
    Ok(alarm.view(ns, name))
}

/// `UPDATE`: the parameters given replace the stored ones; the alarm then
/// starts afresh (active, counting firings from 0, ticks from now).
fn update(
    ctl: &Controller,
    feed: Feed,
    request: &FeedRequest,
    name: &str,
    ns: &str,
) -> Result<Value, ApiError> {
    let mut alarm = stored(ctl, ns, name)?;
    if alarm.feed != feed {
        return Err(ApiError::bad_request(format!(
            "the alarm of trigger {ns}/{name} was made by /whisk.system/alarms/{}, not {}",
            alarm.feed.name(),
            feed.name()
        )));
    }
    let now = alarms::now_ms();
    alarm.status = Status::Active;
    alarm.fired = 0;
    alarm.anchor = now;
    alarm.since = now;
    apply(&mut alarm, request, now)?;
    alarm.save(ctl, ns, name, true)?;
    Ok(alarm.view(ns, name))
}

/// Sets the parameters a request gives, and checks that the alarm has what
/// its feed needs and a tick left.
fn apply(alarm: &mut Alarm, r: &FeedRequest, now: i64) -> Result<(), ApiError> {
    let bad = ApiError::bad_request;
    let feed = alarm.feed.name();
    let not_taken = |field: &str, given: bool| {
        if given {
            Err(bad(format!("the {feed} feed does not take '{field}'")))
        } else {
            Ok(())
        }
    };
    match alarm.feed {
        Feed::Alarm => {
            not_taken("minutes", r.minutes.is_some())?;
            not_taken("date", r.date.is_some())?;
            if let Some(cron) = &r.cron {
                alarms::parse_cron(cron).map_err(bad)?;
                alarm.cron = Some(cron.trim().to_string());
            }
            if let Some(tz) = &r.timezone {
                alarms::time_zone(Some(tz)).map_err(bad)?;
                alarm.timezone = Some(tz.trim().to_string()).filter(|t| !t.is_empty());
            }
            if alarm.cron.is_none() {
                return Err(bad(
                    "the alarm feed needs 'cron', such as \"*/10 * * * * *\" or \"0 8 * * 1-5\""
                        .into(),
                ));
            }
        }
        Feed::Interval => {
            not_taken("cron", r.cron.is_some())?;
            not_taken("date", r.date.is_some())?;
            if let Some(m) = &r.minutes {
                alarm.minutes = Some(minutes(m)?);
            }
            if alarm.minutes.is_none() {
                return Err(bad(
                    "the interval feed needs 'minutes' (a whole number ≥ 1)".into(),
                ));
            }
        }
        Feed::Once => {
            not_taken("cron", r.cron.is_some())?;
            not_taken("minutes", r.minutes.is_some())?;
            not_taken("maxTriggers", r.max_triggers.is_some())?;
            if let Some(d) = &r.date {
                alarm.date = Some(date("date", d)?);
            }
            match alarm.date {
                None => return Err(bad("the once feed needs 'date' (RFC 3339, such as 2027-01-01T08:00:00Z, or ms since the epoch)".into())),
                Some(d) if d <= now => {
                    return Err(bad(format!("'date' {} is not in the future", alarms::iso(d))));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(p) = &r.trigger_payload {
        if !p.is_object() {
            return Err(bad("'trigger_payload' must be a JSON object".into()));
        }
        alarm.payload = p.clone();
    }
    if let Some(d) = &r.start_date {
        alarm.start_date = Some(date("startDate", d)?);
    }
    if let Some(d) = &r.stop_date {
        alarm.stop_date = Some(date("stopDate", d)?);
    }
    if let (Some(start), Some(stop)) = (alarm.start_date, alarm.stop_date)
        && stop <= start
    {
        return Err(bad("'stopDate' must be after 'startDate'".into()));
    }
    if let Some(max) = r.max_triggers {
        // OpenWhisk's -1 (and any n ≤ 0) means no limit.
        alarm.max_triggers = u64::try_from(max).ok().filter(|&m| m > 0);
    }
    match alarm.next_tick(alarm.since).map_err(bad)? {
        Some(_) => Ok(()),
        None => Err(bad(format!(
            "this alarm would never fire: its {} has no tick left before its stopDate",
            if alarm.feed == Feed::Alarm {
                "cron expression"
            } else {
                "schedule"
            }
        ))),
    }
}

/// `minutes`: a whole number ≥ 1, as a number or a string.
fn minutes(v: &Value) -> Result<u64, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| (1..=366 * 24 * 60).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "'minutes' must be a whole number of minutes from 1 to 527040, got {v}"
            ))
        })
}

/// A date parameter: RFC 3339 text or ms since the Unix epoch.
fn date(field: &str, v: &Value) -> Result<i64, ApiError> {
    let ms = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s
            .trim()
            .parse::<Timestamp>()
            .map(|t| t.as_millisecond())
            .ok()
            .or_else(|| s.trim().parse().ok()),
        _ => None,
    };
    ms.filter(|ms| Timestamp::from_millisecond(*ms).is_ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "'{field}' must be an RFC 3339 date such as 2027-01-01T08:00:00Z, or milliseconds since the epoch; got {v}"
            ))
        })
}
