//! The one thing the API server reads out of a field selector for authorisation: a list or
//! watch whose selector pins `metadata.name` to one value is about that object alone, and
//! the request info carries the name (current servers; the kubelet watches single Secrets and
//! ConfigMaps this way, and `kubectl get pod NAME -w` too). Parsed with the server's rules for field selectors:
//! terms split on unescaped commas, the first of `!=`, `==`, `=` as the operator, `\` escaping
//! `\`, `,` and `=` in values, terms taken in sorted order. A selector the server could not
//! parse names nothing here: the server answers such a request 400 anyway.

const NAME_FIELD: &str = "metadata.name";

/// The object name the selector requires, when it requires one and it could name an object
/// in a path (not `.`, `..`, nothing with `/` or `%`).
pub(crate) fn exact_name(selector: &str) -> Option<String> {
    let mut terms = split_terms(selector);
    terms.sort_unstable();
    let mut found = None;
    for term in terms.into_iter().filter(|t| !t.is_empty()) {
        // Every term must parse, or the whole selector is invalid.
        let (field, op, raw_value) = split_term(term)?;
        let value = unescape(raw_value)?;
        if found.is_none() && op != "!=" && field == NAME_FIELD {
            found = Some(value);
        }
    }
    found.filter(|name| valid_path_segment(name))
}

fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    if selector.is_empty() {
        return terms;
    }
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// `field`, operator, raw value: the earliest position where an operator starts, `!=`
/// before `==` before `=` at one position. Escapes are not considered here (as on the server).
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return None;
            }
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if matches!(c, ',' | '=') {
            return None;
        } else {
            out.push(c);
        }
    }
    (!escaped).then_some(out)
}

/// An empty name is no name: the request stays a list of everything.
fn valid_path_segment(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

#[cfg(test)]
mod tests {
    use super::exact_name;

    #[test]
    fn names_only_an_exact_match() {
        assert_eq!(exact_name("metadata.name=web").as_deref(), Some("web"));
        assert_eq!(exact_name("metadata.name==web").as_deref(), Some("web"));
        assert_eq!(
            exact_name("status.phase=Running,metadata.name=web").as_deref(),
            Some("web")
        );
        // Sorted terms: the server picks `a` whatever the order given.
        assert_eq!(
            exact_name("metadata.name=b,metadata.name=a").as_deref(),
            Some("a")
        );
        assert_eq!(exact_name("metadata.name!=web"), None);
        assert_eq!(exact_name("metadata.namespace=web"), None);
        assert_eq!(exact_name("metadata.name=a\\,b").as_deref(), Some("a,b"));
        assert_eq!(exact_name(""), None);
        assert_eq!(exact_name("metadata.name=.."), None);
        assert_eq!(exact_name("metadata.name=a%2Fb"), None);
        // An invalid term anywhere invalidates the selector.
        assert_eq!(exact_name("metadata.name=web,nonsense"), None);
        assert_eq!(exact_name("metadata.name=a=b"), None);
        assert_eq!(exact_name("metadata.name=a\\x"), None);
        assert_eq!(exact_name("metadata.name=a\\"), None);
        assert_eq!(exact_name(" metadata.name=web"), None);
        assert_eq!(exact_name("metadata.name="), None);
    }
}
