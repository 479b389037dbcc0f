//! A MySQL statement's text with its constants taken out, from the server's tokens: every
//! string, number and hex/bit literal becomes `$1`, `$2`, ... in order, and every run of
//! white space one space, so statements that differ only in constants (or spacing) read the
//! same, and no constant (which may hold personal data) reaches the policy.

use sqlparser::tokenizer::Token;

/// Whether `token` is a constant.
pub fn is_constant(token: &Token) -> bool {
    matches!(
        token,
        Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
    )
}

/// The tokens as text, constants numbered from `*next` on (which is advanced).
pub fn normalized(tokens: &[Token], next: &mut u32) -> String {
    let mut text = String::new();
    for token in tokens {
        match token {
            Token::Whitespace(_) => {
                if !text.is_empty() && !text.ends_with(' ') {
                    text.push(' ');
                }
            }
            t if is_constant(t) => {
                text.push_str(&format!("${next}"));
                *next += 1;
            }
            t => text.push_str(&t.to_string()),
        }
    }
    text.trim_end().to_owned()
}
