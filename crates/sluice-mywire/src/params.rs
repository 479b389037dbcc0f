//! The bound values of a COM_STMT_EXECUTE, as text: the policy may read them (`parameters`)
//! and the audit record may keep them.

use crate::error::{malformed, WireError};
use crate::lenenc::Reader;
use crate::rows::{BinaryValue, ValueType};

/// Reads `count` bound values. `bound` holds the types of the last execution that sent them
/// (a client sends types only when they change) and is updated; `long_data[i]` says the
/// value was sent by COM_STMT_SEND_LONG_DATA and is not in the packet.
pub fn decode(
    params: &[u8],
    count: usize,
    bound: &mut Vec<ValueType>,
    long_data: &[bool],
) -> Result<Vec<Option<String>>, WireError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(params, "execute parameters");
    let nulls = r.bytes(count.div_ceil(8))?;
    if r.u8()? == 1 {
        bound.clear();
        for _ in 0..count {
            let column_type = r.u8()?;
            let flags = r.u8()?;
            bound.push(ValueType {
                column_type,
                unsigned: flags & 0x80 != 0,
            });
        }
    }
    if bound.len() != count {
        return Err(malformed(
            "execute parameters",
            "values without their types",
        ));
    }
    let mut values = Vec::with_capacity(count);
    for (i, kind) in bound.iter().enumerate() {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            values.push(None);
        } else if long_data.get(i).copied().unwrap_or(false) {
            values.push(Some("(sent as long data)".to_owned()));
        } else {
            let value = BinaryValue::read(&mut r, *kind)?;
            values.push(value.to_text());
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::types;

    #[test]
    fn values_decode_with_new_and_remembered_types() {
        // Two parameters: an int 42 and the string "ab"; types sent.
        let mut p = vec![0u8, 1, types::LONG, 0, types::VAR_STRING, 0];
        p.extend_from_slice(&42i32.to_le_bytes());
        p.extend_from_slice(&[2, b'a', b'b']);
        let mut bound = Vec::new();
        let v = decode(&p, 2, &mut bound, &[]).unwrap();
        assert_eq!(v, vec![Some("42".into()), Some("ab".into())]);
        // Again without types, the second one NULL.
        let mut q = vec![0b10u8, 0];
        q.extend_from_slice(&7i32.to_le_bytes());
        let v = decode(&q, 2, &mut bound, &[]).unwrap();
        assert_eq!(v, vec![Some("7".into()), None]);
        // Without types ever sent: an error.
        assert!(decode(&q, 2, &mut Vec::new(), &[]).is_err());
    }
}
