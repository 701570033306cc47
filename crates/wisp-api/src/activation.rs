//! Activation records: how a call ended ([`ActivationStatus`]), where its code
//! came from ([`Warmth`]), and OpenWhisk's record of it ([`ActivationDoc`]).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an invocation ended, as OpenWhisk reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActivationStatus {
    /// It returned a result (or a web response below 500).
    #[serde(rename = "success")]
    Success,
    /// It returned an error result (or a web response of 500 or more).
    #[serde(rename = "application error")]
    ApplicationError,
    /// It failed: trap, time or memory limit, bad output, exit status.
    #[serde(rename = "action developer error")]
    DeveloperError,
    /// wisp could not run it (overload, an internal fault).
    #[serde(rename = "whisk internal error")]
    InternalError,
}

impl ActivationStatus {
    /// Every status, in the order of their codes.
    pub const ALL: [ActivationStatus; 4] = [
        ActivationStatus::Success,
        ActivationStatus::ApplicationError,
        ActivationStatus::DeveloperError,
        ActivationStatus::InternalError,
    ];

    /// OpenWhisk's words: `success`, `application error`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationStatus::Success => "success",
            ActivationStatus::ApplicationError => "application error",
            ActivationStatus::DeveloperError => "action developer error",
            ActivationStatus::InternalError => "whisk internal error",
        }
    }

    /// OpenWhisk's `response.statusCode`: 0 to 3.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether the call succeeded.
    pub fn is_success(self) -> bool {
        self == ActivationStatus::Success
    }
}

/// Where a call's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Warmth {
    /// Compiled code and template were in memory.
    #[serde(rename = "hot")]
    Hot,
    /// Loaded from the disk cache (a cold start without compiling).
    #[serde(rename = "cold-disk")]
    Disk,
    /// Compiled from the WebAssembly binary.
    #[serde(rename = "cold-compiled")]
    Compiled,
}

impl Warmth {
    /// `hot`, `cold-disk` or `cold-compiled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Warmth::Hot => "hot",
            Warmth::Disk => "cold-disk",
            Warmth::Compiled => "cold-compiled",
        }
    }
}

/// OpenWhisk's activation record. Borrowed fields let the server encode it
/// without copying; a client decodes it into owned ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationDoc<'a> {
    /// 32 lowercase hex digits.
    pub activation_id: Cow<'a, str>,
    /// The action's namespace.
    pub namespace: Cow<'a, str>,
    /// The action's name.
    pub name: Cow<'a, str>,
    /// The action's version when it ran.
    pub version: Cow<'a, str>,
    /// The key that invoked it (its namespace for web calls).
    pub subject: Cow<'a, str>,
    /// Always false.
    pub publish: bool,
    /// Start, ms since the Unix epoch.
    pub start: u64,
    /// End, ms since the Unix epoch.
    pub end: u64,
    /// `end - start`.
    pub duration: u64,
    /// `response.statusCode`.
    pub status_code: u8,
    /// How it ended and what it returned.
    pub response: ActivationResponse<'a>,
    /// `<ISO time> stdout|stderr: <text>` lines.
    pub logs: Vec<String>,
    /// `path`, `kind`, `limits`, `waitTime`, `initTime`, `warmth`.
    pub annotations: Vec<Annotation<'a>>,
}

/// `response` of an [`ActivationDoc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationResponse<'a> {
    /// The status.
    pub status: ActivationStatus,
    /// Its code, 0 to 3.
    pub status_code: u8,
    /// Whether it succeeded.
    pub success: bool,
    /// The action's result; for a web call `{"statusCode": N}` or
    /// `{"error": "..."}`. Absent in summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Cow<'a, Value>>,
}

/// One `{"key": ..., "value": ...}` annotation of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation<'a> {
    /// Its name.
    pub key: Cow<'a, str>,
    /// Its value.
    pub value: AnnotationValue<'a>,
}

/// The value of a record's annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnnotationValue<'a> {
    /// A number (`waitTime`, `initTime`, ms).
    Number(u64),
    /// Text (`path`, `kind`, `warmth`).
    Text(Cow<'a, str>),
    /// The limits the call ran under.
    Limits(ActivationLimits),
    /// Anything else.
    Other(Value),
}

/// The `limits` annotation of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationLimits {
    /// ms.
    pub timeout: u64,
    /// MiB.
    pub memory: u64,
    /// OpenWhisk's log limit, MB.
    pub logs: u64,
    /// Always 1.
    pub concurrency: u64,
}

impl ActivationDoc<'_> {
    /// The value of an annotation, if the record has it.
    pub fn annotation(&self, key: &str) -> Option<&AnnotationValue<'_>> {
        self.annotations
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_openwhisk_words_and_codes() {
        for (i, s) in ActivationStatus::ALL.iter().enumerate() {
            assert_eq!(usize::from(s.code()), i);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.as_str().into())
            );
        }
        assert_eq!(
            ActivationStatus::DeveloperError.as_str(),
            "action developer error"
        );
    }

    #[test]
    fn a_record_round_trips() {
        let doc = ActivationDoc {
            activation_id: "00".repeat(16).into(),
            namespace: "guest".into(),
            name: "a".into(),
            version: "0.0.1".into(),
            subject: "k".into(),
            publish: false,
            start: 1,
            end: 3,
            duration: 2,
            status_code: 0,
            response: ActivationResponse {
                status: ActivationStatus::Success,
                status_code: 0,
                success: true,
                result: Some(Cow::Owned(serde_json::json!({"a": 1}))),
            },
            logs: vec!["t stdout: hi".into()],
            annotations: vec![
                Annotation {
                    key: "path".into(),
                    value: AnnotationValue::Text("guest/a".into()),
                },
                Annotation {
                    key: "waitTime".into(),
                    value: AnnotationValue::Number(4),
                },
                Annotation {
                    key: "limits".into(),
                    value: AnnotationValue::Limits(ActivationLimits {
                        timeout: 1,
                        memory: 2,
                        logs: 10,
                        concurrency: 1,
                    }),
                },
            ],
        };
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains(r#""activationId":"#) && text.contains(r#""status":"success""#));
        let back: ActivationDoc<'_> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(
            back.annotation("waitTime"),
            Some(&AnnotationValue::Number(4))
        );
    }
}
