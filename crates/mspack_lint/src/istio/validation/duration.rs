//! Go's duration syntax (`1.5s`, `300ms`, `1m30s`) as Istio validates it: at least 1ms, whole
//! milliseconds.

use super::*;

// ---------------------------------------------------------------------------------------------
// Durations: Go's duration syntax (`1.5s`, `300ms`, `1m30s`), at least 1ms, whole milliseconds.

/// Nanoseconds of a Go duration string, `None` when it does not parse.
pub(crate) fn parse_go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_end);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let end = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(end)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(scale)?;
        let mut div: i128 = 1;
        let mut frac: i128 = 0;
        for d in frac_part.bytes().take(30) {
            frac = frac * 10 + i128::from(d - b'0');
            div *= 10;
        }
        value = value.checked_add(frac * scale / div)?;
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = next;
    }
    Some(if negative { -total } else { total })
}

pub(crate) fn duration<'a>(node: &'a Node, p: &mut Problems<'a>) {
    let written = node.as_string_value().unwrap_or("");
    let Some(nanos) = parse_go_duration(written) else {
        p.add(
            node,
            format!(
                "invalid duration \"{}\": write a string such as \"1.5s\" or \"300ms\"",
                node.as_str().unwrap_or("")
            ),
        );
        return;
    };
    if nanos < 1_000_000 {
        p.add(node, "duration must be at least 1ms");
    } else if nanos % 1_000_000 != 0 {
        p.add(node, "only durations to ms precision are supported");
    }
}
