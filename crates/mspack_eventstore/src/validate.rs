//! What may go into a stream and the outbox, checked before anything is written: every event
//! type is a NATS subject token, every outbox subject a publishable subject, every header a valid
//! NATS header. A row that passes these checks can be published; one that doesn't is refused
//! with an error naming the value, instead of stalling the relay later.

use crate::error::StoreError;
use crate::event::{Metadata, NewEvent, OutboxMessage};

/// Longest subject the store accepts (NATS itself has no fixed limit; this keeps rows sane).
pub const MAX_SUBJECT_LEN: usize = 1024;

fn token_problem(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        return Some("is empty");
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains whitespace or a control character");
    }
    if token == "*" || token == ">" || token.contains(['*', '>']) {
        return Some("contains a wildcard (`*` or `>`)");
    }
    None
}

/// Checks that `event_type` can be the last token of a NATS subject: not empty, no whitespace,
/// control characters, `.` or wildcards, at most 255 characters.
pub fn check_event_type(event_type: &str) -> Result<(), String> {
    if event_type.len() > 255 {
        return Err(format!(
            "event type {:?}... is longer than 255 bytes",
            truncate(event_type)
        ));
    }
    if event_type.contains('.') {
        return Err(format!(
            "event type {event_type:?} contains `.`; it becomes one token of a NATS subject"
        ));
    }
    match token_problem(event_type) {
        Some(problem) => Err(format!(
            "event type {event_type:?} {problem}; it becomes one token of a NATS subject"
        )),
        None => Ok(()),
    }
}

/// Checks that `subject` is a NATS subject a message can be published on: dot-separated
/// non-empty tokens without whitespace, control characters or wildcards.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(format!(
            "subject {:?}... is longer than {MAX_SUBJECT_LEN} bytes",
            truncate(subject)
        ));
    }
    for token in subject.split('.') {
        if let Some(problem) = token_problem(token) {
            return Err(format!(
                "subject {subject:?} is not publishable: token {token:?} {problem}"
            ));
        }
    }
    Ok(())
}

/// Checks a NATS header: the name is printable ASCII without `:`, the value has no CR or LF.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name is empty".to_owned());
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() || *c == ':') {
        return Err(format!(
            "header name {name:?} contains {c:?}; names are printable ASCII without spaces or `:`"
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!(
            "header {name} has a value with CR or LF: {:?}",
            truncate(value)
        ));
    }
    Ok(())
}

/// Checks a W3C `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`, trace and span ids not all zero.
pub fn check_traceparent(value: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "traceparent {:?} is not a W3C trace context",
            truncate(value)
        )
    };
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let [version, trace, span, flags] = parts.as_slice() else {
        return Err(bad());
    };
    if !(hex(version, 2) && *version != "ff" && hex(trace, 32) && hex(span, 16) && hex(flags, 2))
        || trace.bytes().all(|b| b == b'0')
        || span.bytes().all(|b| b == b'0')
    {
        return Err(bad());
    }
    Ok(())
}

/// Checks a stream id: not empty, at most 1000 bytes, no control characters (it travels in the
/// `Mspack-Stream` header).
pub fn check_stream_id(stream_id: &str) -> Result<(), String> {
    if stream_id.is_empty() {
        return Err("stream id is empty".to_owned());
    }
    if stream_id.len() > 1000 {
        return Err(format!(
            "stream id {:?}... is longer than 1000 bytes",
            truncate(stream_id)
        ));
    }
    if stream_id.chars().any(char::is_control) {
        return Err(format!(
            "stream id {stream_id:?} contains a control character"
        ));
    }
    Ok(())
}

fn check_metadata(metadata: &Metadata) -> Result<(), String> {
    match &metadata.traceparent {
        Some(tp) => check_traceparent(tp),
        None => Ok(()),
    }
}

/// Checks an append before it is written.
pub(crate) fn check_append(
    stream_id: &str,
    events: &[NewEvent],
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        stream: stream_id.to_owned(),
        reason,
    };
    check_stream_id(stream_id).map_err(invalid)?;
    for event in events {
        check_event_type(&event.event_type).map_err(invalid)?;
        check_metadata(&event.metadata).map_err(invalid)?;
    }
    for message in messages {
        check_message(message).map_err(invalid)?;
    }
    Ok(())
}

/// Checks an outbox message: its subject, headers and ordering key.
pub fn check_message(message: &OutboxMessage) -> Result<(), String> {
    check_subject(&message.subject)?;
    for (name, value) in &message.headers {
        check_header(name, value)?;
    }
    if let Some(key) = &message.ordering_key
        && key.is_empty()
    {
        return Err("ordering key is empty".to_owned());
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_must_be_one_subject_token() {
        assert!(check_event_type("OrderPlaced").is_ok());
        assert!(check_event_type("order-placed_v2").is_ok());
        for bad in [
            "",
            "Order Placed",
            "order.placed",
            "a*",
            ">",
            "x\ny",
            "tab\there",
        ] {
            assert!(check_event_type(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_event_type(&"x".repeat(256)).is_err());
    }

    #[test]
    fn subjects_need_non_empty_tokens_without_wildcards() {
        assert!(check_subject("orders.events.OrderPlaced").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a.\u{7}"] {
            assert!(check_subject(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn header_names_and_values_follow_nats() {
        assert!(check_header("traceparent", "00-x").is_ok());
        assert!(check_header("Mspack-Stream", "order 42: ok").is_ok());
        for (name, value) in [
            ("", "v"),
            ("has space", "v"),
            ("colon:", "v"),
            ("nön-ascii", "v"),
            ("ok", "line\r\nInjected: yes"),
            ("ok", "lf\n"),
        ] {
            assert!(
                check_header(name, value).is_err(),
                "{name:?}: {value:?} accepted"
            );
        }
    }

    #[test]
    fn traceparent_must_be_w3c() {
        assert!(
            check_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok()
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX: y",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            assert!(check_traceparent(bad).is_err(), "{bad:?} accepted");
        }
    }
}
