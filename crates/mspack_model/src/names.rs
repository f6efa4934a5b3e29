//! DNS names as Kubernetes and Istio check them: RFC 1123 labels and subdomains, RFC 1035 labels
//! (Service names), and Istio's host labels (which also allow upper case).

/// Why a name is not a DNS-1123 (or DNS-1035) label of at most `max` characters.
fn label_error(text: &str, dns1035: bool, max: usize) -> Option<String> {
    if text.is_empty() {
        return Some("must not be empty".into());
    }
    if text.len() > max {
        return Some(format!("is {} characters; at most {max}", text.len()));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("may hold only lowercase letters, digits and '-' (DNS-1123 label)".into());
    }
    if dns1035 && !text.as_bytes()[0].is_ascii_lowercase() {
        return Some("must start with a lowercase letter (DNS-1035 label)".into());
    }
    if text.starts_with('-') || text.ends_with('-') {
        return Some("must start and end with a letter or digit".into());
    }
    None
}

/// A Kubernetes DNS-1123 label (most object names, namespaces): 1-63 lowercase letters, digits
/// and `-`, starting and ending with a letter or digit.
pub fn dns1123_label(text: &str) -> Result<(), String> {
    label_error(text, false, 63).map_or(Ok(()), Err)
}

/// A DNS-1035 label (Service names): a DNS-1123 label that starts with a letter.
pub fn dns1035_label(text: &str) -> Result<(), String> {
    label_error(text, true, 63).map_or(Ok(()), Err)
}

pub fn is_dns1123_label(text: &str) -> bool {
    label_error(text, false, 63).is_none()
}

/// A DNS-1123 subdomain as Kubernetes checks it: at most 253 characters of dot-separated parts of
/// lowercase letters, digits and `-`, each starting and ending with a letter or digit (no
/// per-part length limit, unlike a label).
pub fn dns1123_subdomain(text: &str) -> Result<(), String> {
    if text.len() > 253 {
        return Err("is longer than 253 characters".into());
    }
    text.split('.')
        .try_for_each(|part| label_error(part, false, usize::MAX).map_or(Ok(()), Err))
}

pub fn is_dns1123_subdomain(text: &str) -> bool {
    dns1123_subdomain(text).is_ok()
}

/// A label of a host as Istio checks it: letters of either case, digits and inner `-`, 1-63.
pub fn is_host_label(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// A DNS name of lowercase DNS-1123 labels (a trailing dot allowed), at most 255 characters, whose
/// top-level label is not all digits.
pub fn is_dns_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let top = labels.last().copied().unwrap_or("");
    if !top.is_empty() && top.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    labels
        .iter()
        .enumerate()
        .all(|(i, label)| (i + 1 == labels.len() && label.is_empty()) || is_dns1123_label(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_kubernetes() {
        assert!(is_dns1123_label("orders-v2"));
        assert!(is_dns1123_label("9lives"));
        assert!(dns1035_label("9lives").is_err());
        assert!(!is_dns1123_label("Orders"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("orders.food.svc"));
        assert!(!is_dns1123_subdomain("orders..food"));
        assert!(is_dns1123_subdomain(&format!("{}.food", "a".repeat(70))));
        assert!(!is_dns1123_subdomain(&format!("{}-.food", "a".repeat(70))));
    }

    #[test]
    fn istio_host_labels_allow_upper_case_and_dns_names_need_a_named_top() {
        assert!(is_host_label("Orders"));
        assert!(!is_host_label("a-"));
        assert!(is_dns_name("orders.food.svc.cluster.local."));
        assert!(!is_dns_name("10.0.0.1"));
        assert!(!is_dns_name("Orders.com"));
    }
}
