//! A statement's shape, which keys the decision cache: sluice's `normalize` (a lexer's rendering,
//! trusted once pg_query agreed on an earlier text of the same rendering) must return exactly what
//! pg_query's own normalize returns, for every text. The memo lives across inputs, so the fuzzer's
//! mutations of one text's constants probe the case that matters: a rendering trusted for one
//! text and then used for another. A shape that differs would let one statement's cached decision
//! stand for another's; a difference, or a panic, is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Texts with `$n` have no shape by design (sluice refuses them, pg_query does not).
    if text.contains('$') {
        return;
    }
    let ours = sluice_sql::normalize(text).ok();
    let theirs = pg_query::normalize(text).ok();
    assert_eq!(ours, theirs, "shape of {text:?}");
});
