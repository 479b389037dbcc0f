//! The query's parameters, decoded: `a=1&a=2&b` is `{"a": ["1", "2"], "b": [""]}`. A `+` is a
//! space, as HTML forms and most server frameworks read it.

use std::collections::BTreeMap;

use crate::HttpError;

pub fn parse_query(raw: &str) -> Result<BTreeMap<String, Vec<String>>, HttpError> {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params
            .entry(decode(name)?)
            .or_default()
            .push(decode(value)?);
    }
    Ok(params)
}

fn decode(raw: &str) -> Result<String, HttpError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let digit = |at: usize| bytes.get(at).copied().and_then(crate::path::hex);
                let (Some(hi), Some(lo)) = (digit(i + 1), digit(i + 2)) else {
                    return Err(HttpError::BadEscape);
                };
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                if !(0x21..0x7f).contains(&b) {
                    return Err(HttpError::BadCharacter);
                }
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_in_order_decoded() {
        let q = parse_query("a=1&a=2&b&c=x%20y+z&%64=%C3%A9&&e=").unwrap();
        assert_eq!(q["a"], vec!["1", "2"]);
        assert_eq!(q["b"], vec![""]);
        assert_eq!(q["c"], vec!["x y z"]);
        assert_eq!(q["d"], vec!["é"]);
        assert_eq!(q["e"], vec![""]);
        assert_eq!(q.len(), 5);
        assert!(parse_query("").unwrap().is_empty());
    }

    #[test]
    fn malformed_parameters_are_refused() {
        assert_eq!(parse_query("a=%zz"), Err(HttpError::BadEscape));
        assert_eq!(parse_query("a=%ff"), Err(HttpError::NotUtf8));
        assert_eq!(parse_query("a=b c"), Err(HttpError::BadCharacter));
    }
}
