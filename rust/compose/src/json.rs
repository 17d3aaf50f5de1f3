//! The one JSON rendering of records: what `strata … --json` prints and
//! what `strata serve`'s API answers, byte for byte, so the two cannot
//! drift apart.

use serde::Serialize;
use std::io::Write;

/// `value` as the CLI prints it: pretty, with a final newline.
pub fn json_bytes<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(value)?;
    out.push(b'\n');
    Ok(out)
}

/// Writes [`json_bytes`] of `value` to `out`.
pub fn write_json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    out.write_all(&json_bytes(value)?)
}

#[cfg(test)]
mod test {
    #[test]
    fn pretty_with_a_final_newline() {
        let bytes = super::json_bytes(&serde_json::json!({"a": [1]})).unwrap();
        assert_eq!(bytes, b"{\n  \"a\": [\n    1\n  ]\n}\n");
    }
}
