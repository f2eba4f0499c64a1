//! Names that end up in a Docker Engine API URL or on kubectl's command line. A name that
//! does not fit its pattern is refused (at load when literal, at run time when templated),
//! so `x/../../info#` can never address another endpoint.

/// The `format` of a parameter schema, and the problem with `value` for it (if any).
pub fn check_format(format: &str, value: &str) -> Option<String> {
    let ok = match format {
        "docker-name" => docker_name(value),
        "docker-image" => docker_image(value),
        "kube-name" => kube_name(value),
        "kube-kind" => kube_kind(value),
        "kube-namespace" => value.is_empty() || kube_namespace(value),
        _ => return None,
    };
    (!ok).then(|| {
        let shown: String = value.chars().flat_map(char::escape_default).take(80).collect();
        match format {
            "docker-name" => format!(
                "`{shown}` is not a Docker container name or id (letters, digits, `_`, `.`, `-`; starting with a letter or digit)"
            ),
            "docker-image" => format!(
                "`{shown}` is not a Docker image reference (`name`, `registry:5000/path/name:tag`, `name@sha256:…`)"
            ),
            "kube-namespace" => format!(
                "`{shown}` is not a Kubernetes namespace (RFC 1123 label: lower-case letters, digits and `-`, at most 63)"
            ),
            "kube-kind" => format!("`{shown}` is not a Kubernetes resource kind (letters, digits, `.`, `-`)"),
            _ => format!(
                "`{shown}` is not a Kubernetes object name (RFC 1123: lower-case letters, digits, `-`, `.`, `:`)"
            ),
        }
    })
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Docker's own pattern for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (ids fit it too).
pub fn docker_name(s: &str) -> bool {
    let s = s.strip_prefix('/').unwrap_or(s);
    s.len() <= 255 && s.starts_with(alnum) && s.chars().all(|c| alnum(c) || matches!(c, '_' | '.' | '-'))
}

/// Docker's reference grammar: `[domain[:port]/]path[/path…][:tag][@algo:hex]`, path
/// components `[a-z0-9]+([._]|__|-+)[a-z0-9]+…`, tag `[\w][\w.-]{0,127}`.
pub fn docker_image(s: &str) -> bool {
    if s.is_empty() || s.len() > 512 {
        return false;
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else { return false };
        if algo.is_empty()
            || !algo.starts_with(|c: char| c.is_ascii_alphabetic())
            || !algo.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '+' | '.'))
            || hex.len() < 32
            || !hex.chars().all(|c| c.is_ascii_hexdigit())
        {
            return false;
        }
    }
    // A tag is after the last `:` that follows the last `/`.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let word = |c: char| alnum(c) || c == '_';
        if t.is_empty()
            || t.len() > 128
            || !t.starts_with(word)
            || !t.chars().all(|c| word(c) || matches!(c, '.' | '-'))
        {
            return false;
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // The first component is a registry when it looks like a host (has `.` or `:`, or is localhost).
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let host = parts.remove(0);
        let (h, port) = match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        if port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return false;
        }
        if !h.split('.').all(|l| {
            !l.is_empty()
                && l.starts_with(alnum)
                && l.ends_with(alnum)
                && l.chars().all(|c| alnum(c) || c == '-')
        }) {
            return false;
        }
    }
    !parts.is_empty() && parts.iter().all(|p| path_component(p))
}

fn path_component(p: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !p.starts_with(lower) || !p.ends_with(lower) {
        return false;
    }
    // Separators: `.`, `_`, `__`, or any run of `-`.
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if lower(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !lower(b[i] as char) {
            i += 1;
        }
        let sep = &p[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-')) {
            return false;
        }
    }
    true
}

/// RFC 1123 subdomain (what most Kubernetes names are), plus `:` for RBAC names such as
/// `system:node`.
pub fn kube_name(s: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 253
        && s.starts_with(lower)
        && s.ends_with(lower)
        && s.chars().all(|c| lower(c) || matches!(c, '-' | '.' | ':'))
}

/// A resource kind as kubectl takes it: `pod`, `Deployment`, `cluster.postgresql.cnpg.io`.
pub fn kube_kind(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.starts_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '.'))
}

/// RFC 1123 label.
pub fn kube_namespace(s: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(lower)
        && s.ends_with(lower)
        && s.chars().all(|c| lower(c) || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names() {
        for ok in ["pg1", "val17-pg", "a_b.c", "0123456789abcdef", "/pg1"] {
            assert!(docker_name(ok), "{ok}");
        }
        for bad in ["x/../../info#", "", "-x", ".x", "..", "a b", "a%2f", "a?b", "a#", "pg/1"] {
            assert!(!docker_name(bad), "{bad}");
        }
    }

    #[test]
    fn docker_images() {
        for ok in [
            "testrunner-hostfs:latest",
            "postgres",
            "library/postgres:16.2-alpine",
            "localhost:5000/a/b__c:v1",
            "registry.example.com/team/app-x",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(docker_image(ok), "{ok}");
        }
        for bad in [
            "",
            "../info",
            "a/../../info",
            "a/../b",
            "A",
            "a:",
            "a#b",
            "a?x",
            "a b",
            "x/../../info#",
            "a//b",
            ":tag",
        ] {
            assert!(!docker_image(bad), "{bad}");
        }
    }

    #[test]
    fn kube_names() {
        for ok in ["pg-cluster-1", "a.b", "system:node", "x"] {
            assert!(kube_name(ok), "{ok}");
        }
        for bad in ["", "--raw=/x", "a/b", "../x", "A", "a ", "-a", "a-"] {
            assert!(!kube_name(bad), "{bad}");
        }
        assert!(
            kube_kind("cluster.postgresql.cnpg.io") && kube_kind("Deployment") && !kube_kind("pods/../x")
        );
        assert!(kube_namespace("ha-test") && !kube_namespace("a.b") && !kube_namespace("--all"));
        assert!(check_format("docker-name", "x/../../info#")
            .unwrap()
            .contains("not a Docker container name"));
        assert_eq!(check_format("docker-name", "pg"), None);
        assert_eq!(check_format("duration", "x"), None);
    }
}
