//! Service host names: short names, partial cluster names, FQDNs and wildcards, as Istio reads them.

/// How a host written in Istio configuration relates to the cluster's DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostForm {
    /// `*`, `*.example.com`, `*.ns.svc.cluster.local`: a pattern, not a name.
    Wildcard,
    /// `name.namespace.svc.<cluster-domain>`.
    Fqdn,
    /// A name without a dot: Istio expands it in the namespace of the rule.
    Short,
    /// `name.namespace` or `name.namespace.svc`: a Kubernetes DNS search-path form.
    PartialCluster,
    /// Anything else, e.g. `api.stripe.com`.
    External,
}

/// Classify a host. `known_namespace` tells whether a label is a namespace of the analysed set
/// (so `reviews.bookinfo` is recognised as partial even where `bookinfo` could be a TLD).
pub fn classify_host(
    host: &str,
    cluster_domain: &str,
    known_namespace: impl Fn(&str) -> bool,
) -> HostForm {
    if host.starts_with('*') || host.is_empty() {
        return HostForm::Wildcard;
    }
    let host = host.trim_end_matches('.');
    if let Some(rest) = host
        .strip_suffix(cluster_domain)
        .and_then(|r| r.strip_suffix(".svc."))
    {
        return if rest.contains('.') {
            HostForm::Fqdn
        } else {
            HostForm::PartialCluster
        };
    }
    let mut labels = host.split('.');
    let (first, second, third, more) = (labels.next(), labels.next(), labels.next(), labels.next());
    let is_k8s_label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match (first, second, third, more) {
        (Some(_), None, _, _) => HostForm::Short,
        (Some(name), Some(ns), Some("svc"), None) if is_k8s_label(name) && is_k8s_label(ns) => {
            HostForm::PartialCluster
        }
        (Some(name), Some(second), None, _) => {
            // Kubernetes names are lowercase DNS labels: `API.Example` cannot be `service.namespace`.
            if is_k8s_label(name)
                && is_k8s_label(second)
                && (known_namespace(second) || !is_public_tld(second))
            {
                HostForm::PartialCluster
            } else {
                HostForm::External
            }
        }
        _ => HostForm::External,
    }
}

/// The FQDN Istio reads for a host written in a resource of namespace `ns`, for the short and
/// partial forms; `None` for the others.
pub fn expand_host(host: &str, ns: &str, cluster_domain: &str, form: &HostForm) -> Option<String> {
    let host = host.trim_end_matches('.');
    match form {
        HostForm::Short => Some(format!("{host}.{ns}.svc.{cluster_domain}")),
        HostForm::PartialCluster => {
            let labels: Vec<&str> = host.split('.').collect();
            match labels.as_slice() {
                [name, namespace] | [name, namespace, "svc"] => {
                    Some(format!("{name}.{namespace}.svc.{cluster_domain}"))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The name a host written in namespace `ns` stands for: the FQDN of a short or partial
/// cluster name, anything else as written (Kiali's `GetHost`).
pub fn canonical_host(
    host: &str,
    ns: &str,
    cluster_domain: &str,
    known_namespace: impl Fn(&str) -> bool,
) -> String {
    let form = classify_host(host, cluster_domain, known_namespace);
    expand_host(host, ns, cluster_domain, &form).unwrap_or_else(|| host.to_string())
}

/// Istio's `ConvertHostToFQDN`: a name without a dot (and not a wildcard) becomes
/// `name.ns.svc.<domain>`; anything else is taken as written.
pub fn to_fqdn<'h>(ns: &str, host: &'h str, cluster_domain: &str) -> std::borrow::Cow<'h, str> {
    if !host.starts_with('*') && !host.contains('.') {
        std::borrow::Cow::Owned(format!("{host}.{ns}.svc.{cluster_domain}"))
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

/// Split `name.namespace.svc.<domain>` into (name, namespace).
pub fn split_fqdn<'a>(fqdn: &'a str, cluster_domain: &str) -> Option<(&'a str, &'a str)> {
    let rest = fqdn.strip_suffix(cluster_domain)?.strip_suffix(".svc.")?;
    let (name, ns) = rest.rsplit_once('.')?;
    (!name.is_empty() && !ns.is_empty()).then_some((name, ns))
}

/// Does `pattern` (a host or a `*`-prefixed wildcard) match `host`?
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            let host = host.strip_prefix('*').unwrap_or(host);
            host.ends_with(suffix)
        }
        None => pattern == host,
    }
}

/// Do two hosts (either may be a wildcard) overlap? Istio's `host.Name.Matches`.
pub fn hosts_intersect(a: &str, b: &str) -> bool {
    host_matches(a, b) || host_matches(b, a)
}

/// Top-level domains common enough that `x.<tld>` is more likely a public name than
/// `service.namespace`. A two-label host whose last label is a namespace of the analysed set is
/// partial whatever this list says.
fn is_public_tld(label: &str) -> bool {
    const TLDS: &[&str] = &[
        "ai", "app", "at", "au", "be", "biz", "br", "ca", "cc", "ch", "cloud", "cn", "co", "com",
        "de", "dev", "dk", "es", "eu", "fi", "fr", "gov", "host", "in", "info", "internal", "io",
        "it", "jp", "kr", "lan", "local", "me", "mil", "net", "nl", "no", "nz", "org", "pl", "pt",
        "ru", "se", "sh", "site", "tech", "test", "tv", "uk", "us", "xyz",
    ];
    TLDS.binary_search(&label.to_ascii_lowercase().as_str())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(host: &str) -> HostForm {
        classify_host(host, "cluster.local", |ns| ns == "bookinfo" || ns == "dev")
    }

    #[test]
    fn tld_list_is_sorted_for_binary_search() {
        assert!(is_public_tld("com") && is_public_tld("io") && !is_public_tld("food"));
    }

    #[test]
    fn host_forms_follow_kubernetes_dns() {
        assert_eq!(form("reviews"), HostForm::Short);
        assert_eq!(form("reviews.bookinfo"), HostForm::PartialCluster);
        assert_eq!(form("reviews.food"), HostForm::PartialCluster);
        assert_eq!(form("reviews.dev"), HostForm::PartialCluster);
        assert_eq!(form("reviews.food.svc"), HostForm::PartialCluster);
        assert_eq!(form("reviews.food.svc.cluster.local"), HostForm::Fqdn);
        assert_eq!(form("httpbin.org"), HostForm::External);
        assert_eq!(form("api.stripe.com"), HostForm::External);
        assert_eq!(form("ISTIOD-HOST.DOMAIN"), HostForm::External);
        assert_eq!(form("*"), HostForm::Wildcard);
        assert_eq!(form("*.food.svc.cluster.local"), HostForm::Wildcard);
    }

    #[test]
    fn host_overlap_follows_istio() {
        assert!(hosts_intersect("*.foo.com", "a.foo.com"));
        assert!(hosts_intersect("a.foo.com", "*.foo.com"));
        assert!(hosts_intersect("*.foo.com", "*.com"));
        assert!(hosts_intersect("*", "anything"));
        assert!(!hosts_intersect("*.bar.com", "a.foo.com"));
        assert!(!hosts_intersect("a.com", "b.com"));
        assert_eq!(
            crate::resource::short_or_full_name("food", "gw"),
            ("food", "gw")
        );
        assert_eq!(
            crate::resource::short_or_full_name("food", "edge/gw"),
            ("edge", "gw")
        );
        assert_eq!(crate::resource::full_name("", "gw"), "gw");
    }

    #[test]
    fn expansion_uses_the_rule_namespace_for_short_names() {
        let f = |h: &str| expand_host(h, "food", "cluster.local", &form(h));
        assert_eq!(
            f("orders").as_deref(),
            Some("orders.food.svc.cluster.local")
        );
        assert_eq!(
            f("orders.pay").as_deref(),
            Some("orders.pay.svc.cluster.local")
        );
        assert_eq!(
            f("orders.pay.svc").as_deref(),
            Some("orders.pay.svc.cluster.local")
        );
        assert_eq!(
            split_fqdn("a.b.svc.cluster.local", "cluster.local"),
            Some(("a", "b"))
        );
        assert!(host_matches(
            "*.b.svc.cluster.local",
            "a.b.svc.cluster.local"
        ));
        assert!(!host_matches(
            "*.c.svc.cluster.local",
            "a.b.svc.cluster.local"
        ));
    }
}
