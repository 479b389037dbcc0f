//! Client encodings: how the server turns the bytes a client sends into the text it lexes.
//!
//! The server converts each message's text from `client_encoding` to its own encoding before
//! it reads it, so the gateway must analyse the same characters, not the bytes read as UTF-8:
//! [`Encodings::decode`] gives the text the server will read, or says why it cannot.
//!
//! Three groups of encodings:
//! - **Followed**: UTF8, SQL_ASCII (the bytes are taken as the server's encoding), LATIN1..10,
//!   ISO_8859_5..8, WIN866, WIN874, WIN1250..1258, KOI8R, KOI8U, EUC_JP, EUC_KR, EUC_CN. In
//!   all of them every byte of a multi-byte character is above 0x7F, so no byte of one can be
//!   read as a quote or a backslash.
//! - **Client-only** (PostgreSQL cannot use them on the server): SJIS, SHIFT_JIS_2004, BIG5,
//!   GBK, GB18030, JOHAB, UHC. The second byte of a character may be `\` or `'`, so the same
//!   bytes split differently into literals and statements. Text with bytes above 0x7F is
//!   refused under them; plain ASCII reads the same in every encoding and is analysed.
//! - **Not followed**: EUC_TW, EUC_JIS_2004, MULE_INTERNAL: refused likewise for text beyond
//!   ASCII (no decoder for them here).
//!
//! Names are matched as PostgreSQL matches them: case and punctuation ignored, with its
//! aliases (`unicode`, `iso88591`, `mskanji`, `cp936`, ...).

use std::borrow::Cow;

/// One encoding, as the server names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// PostgreSQL's name for it (`UTF8`, `LATIN1`, `SJIS`, ...).
    name: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Utf8,
    /// Bytes are taken as they are (the server's encoding decides).
    SqlAscii,
    /// ISO 8859-1: every byte is the code point of the same value.
    Latin1,
    /// A decoder from encoding_rs whose mapping is the server's.
    Table(&'static encoding_rs::Encoding),
    /// ISO 8859-9, which encoding_rs reads as windows-1254: the same except 0x80-0x9F, which
    /// ISO 8859 keeps as C1 control characters.
    Latin5,
    ClientOnly,
    NotFollowed,
}

impl Encoding {
    pub const UTF8: Encoding = Encoding {
        name: "UTF8",
        kind: Kind::Utf8,
    };

    /// An encoding the server named but this crate does not know: text beyond ASCII is
    /// refused under it.
    pub const UNKNOWN: Encoding = Encoding {
        name: "UNKNOWN",
        kind: Kind::NotFollowed,
    };

    /// The encoding a `client_encoding` or `server_encoding` value names; `None` for a name
    /// PostgreSQL would not accept either.
    pub fn from_name(name: &str) -> Option<Encoding> {
        let clean: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let table = |name, enc| {
            Some(Encoding {
                name,
                kind: Kind::Table(enc),
            })
        };
        let other = |name, kind| Some(Encoding { name, kind });
        match clean.as_str() {
            "utf8" | "unicode" => Some(Encoding::UTF8),
            "sqlascii" => other("SQL_ASCII", Kind::SqlAscii),
            "latin1" | "iso88591" => other("LATIN1", Kind::Latin1),
            "latin2" | "iso88592" => table("LATIN2", encoding_rs::ISO_8859_2),
            "latin3" | "iso88593" => table("LATIN3", encoding_rs::ISO_8859_3),
            "latin4" | "iso88594" => table("LATIN4", encoding_rs::ISO_8859_4),
            "latin5" | "iso88599" => other("LATIN5", Kind::Latin5),
            "latin6" | "iso885910" => table("LATIN6", encoding_rs::ISO_8859_10),
            "latin7" | "iso885913" => table("LATIN7", encoding_rs::ISO_8859_13),
            "latin8" | "iso885914" => table("LATIN8", encoding_rs::ISO_8859_14),
            "latin9" | "iso885915" => table("LATIN9", encoding_rs::ISO_8859_15),
            "latin10" | "iso885916" => table("LATIN10", encoding_rs::ISO_8859_16),
            "iso88595" => table("ISO_8859_5", encoding_rs::ISO_8859_5),
            "iso88596" => table("ISO_8859_6", encoding_rs::ISO_8859_6),
            "iso88597" => table("ISO_8859_7", encoding_rs::ISO_8859_7),
            "iso88598" => table("ISO_8859_8", encoding_rs::ISO_8859_8),
            "win866" | "alt" | "windows866" => table("WIN866", encoding_rs::IBM866),
            "win874" | "windows874" => table("WIN874", encoding_rs::WINDOWS_874),
            "win1250" | "windows1250" => table("WIN1250", encoding_rs::WINDOWS_1250),
            "win1251" | "windows1251" | "win" => table("WIN1251", encoding_rs::WINDOWS_1251),
            "win1252" | "windows1252" => table("WIN1252", encoding_rs::WINDOWS_1252),
            "win1253" | "windows1253" => table("WIN1253", encoding_rs::WINDOWS_1253),
            "win1254" | "windows1254" => table("WIN1254", encoding_rs::WINDOWS_1254),
            "win1255" | "windows1255" => table("WIN1255", encoding_rs::WINDOWS_1255),
            "win1256" | "windows1256" => table("WIN1256", encoding_rs::WINDOWS_1256),
            "win1257" | "windows1257" => table("WIN1257", encoding_rs::WINDOWS_1257),
            "win1258" | "windows1258" | "abc" | "tcvn" | "tcvn5712" | "vscii" => {
                table("WIN1258", encoding_rs::WINDOWS_1258)
            }
            "koi8" | "koi8r" => table("KOI8R", encoding_rs::KOI8_R),
            "koi8u" => table("KOI8U", encoding_rs::KOI8_U),
            "eucjp" => table("EUC_JP", encoding_rs::EUC_JP),
            "euckr" => table("EUC_KR", encoding_rs::EUC_KR),
            // GB2312 in EUC form, a subset of GBK: every valid EUC_CN text reads the same.
            "euccn" => table("EUC_CN", encoding_rs::GBK),
            "sjis" | "mskanji" | "shiftjis" | "win932" | "windows932" => {
                other("SJIS", Kind::ClientOnly)
            }
            "shiftjis2004" => other("SHIFT_JIS_2004", Kind::ClientOnly),
            "big5" | "win950" | "windows950" => other("BIG5", Kind::ClientOnly),
            "gbk" | "win936" | "windows936" => other("GBK", Kind::ClientOnly),
            "gb18030" => other("GB18030", Kind::ClientOnly),
            "johab" => other("JOHAB", Kind::ClientOnly),
            "uhc" | "win949" | "windows949" => other("UHC", Kind::ClientOnly),
            "euctw" => other("EUC_TW", Kind::NotFollowed),
            "eucjis2004" => other("EUC_JIS_2004", Kind::NotFollowed),
            "muleinternal" => other("MULE_INTERNAL", Kind::NotFollowed),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether a multi-byte character may contain an ASCII byte, so that text beyond ASCII
    /// cannot be analysed under it.
    pub fn is_client_only(&self) -> bool {
        self.kind == Kind::ClientOnly
    }
}

/// The session's `client_encoding` and the server's own encoding, as the server reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encodings {
    pub client: Encoding,
    pub server: Encoding,
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings {
            client: Encoding::UTF8,
            server: Encoding::UTF8,
        }
    }
}

/// Why text could not be read as the server will read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The server would reject the bytes too (SQLSTATE 22021).
    #[error("invalid byte sequence for encoding \"{encoding}\"{at}")]
    Invalid { encoding: &'static str, at: String },
    /// The bytes beyond ASCII cannot be analysed under this encoding (SQLSTATE 0A000).
    #[error(
        "text beyond ASCII cannot be analysed under client_encoding {0}, whose characters may \
         hide quotes and backslashes; use UTF8"
    )]
    ClientOnly(&'static str),
    #[error("text beyond ASCII cannot be analysed under client_encoding {0}; use UTF8")]
    NotFollowed(&'static str),
    /// A request still running may change `client_encoding` (SQLSTATE 0A000).
    #[error(
        "text beyond ASCII cannot be analysed while an earlier request that may change \
         client_encoding is still running; send it once that request has completed"
    )]
    Changing,
}

impl Encodings {
    /// The text the server will read from `bytes`. ASCII reads the same in every encoding.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, str>, DecodeError> {
        if bytes.is_ascii() {
            // Every byte is below 0x80, so this cannot fail.
            return Ok(Cow::Borrowed(
                std::str::from_utf8(bytes).unwrap_or_default(),
            ));
        }
        // Under SQL_ASCII the server takes the bytes as its own encoding (and checks them).
        let encoding = match self.client.kind {
            Kind::SqlAscii => self.server,
            _ => self.client,
        };
        let invalid = |at: String| DecodeError::Invalid {
            encoding: encoding.name,
            at,
        };
        match encoding.kind {
            Kind::Utf8 => std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
                // As the server shows it: as many bytes as the first one announces.
                let start = e.valid_up_to();
                let len = match bytes[start] {
                    b if b & 0xe0 == 0xc0 => 2,
                    b if b & 0xf0 == 0xe0 => 3,
                    b if b & 0xf8 == 0xf0 => 4,
                    _ => 1,
                };
                let shown: Vec<String> = bytes[start..(start + len).min(bytes.len())]
                    .iter()
                    .map(|b| format!("0x{b:02x}"))
                    .collect();
                invalid(format!(": {}", shown.join(" ")))
            }),
            // Both sides SQL_ASCII: the server checks nothing, and neither can the gateway
            // tell which characters the bytes are; only UTF-8 can be analysed.
            Kind::SqlAscii => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| invalid(String::new())),
            Kind::Latin1 => Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())),
            Kind::Latin5 => Ok(Cow::Owned(
                bytes
                    .iter()
                    .map(|&b| match b {
                        0x80..=0x9f => char::from(b),
                        _ => single_byte(encoding_rs::WINDOWS_1254, b),
                    })
                    .collect(),
            )),
            Kind::Table(table) => table
                .decode_without_bom_handling_and_without_replacement(bytes)
                .ok_or_else(|| invalid(String::new())),
            Kind::ClientOnly => Err(DecodeError::ClientOnly(encoding.name)),
            Kind::NotFollowed => Err(DecodeError::NotFollowed(encoding.name)),
        }
    }
}

fn single_byte(table: &'static encoding_rs::Encoding, byte: u8) -> char {
    table
        .decode_without_bom_handling(&[byte])
        .0
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// `bytes` as text with every byte that is not part of valid UTF-8 written as `\xNN` (and `\`
/// as `\\`), so a text that could not be decoded is still shown exactly, never with
/// replacement characters.
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encodings(client: &str) -> Encodings {
        Encodings {
            client: Encoding::from_name(client).unwrap(),
            server: Encoding::UTF8,
        }
    }

    #[test]
    fn names_match_as_postgresql_matches_them() {
        assert_eq!(Encoding::from_name("utf-8").unwrap().name(), "UTF8");
        assert_eq!(Encoding::from_name("Unicode").unwrap().name(), "UTF8");
        assert_eq!(Encoding::from_name("ISO-8859-1").unwrap().name(), "LATIN1");
        assert_eq!(Encoding::from_name("Shift_JIS").unwrap().name(), "SJIS");
        assert_eq!(Encoding::from_name("mskanji").unwrap().name(), "SJIS");
        assert!(Encoding::from_name("sjis").unwrap().is_client_only());
        assert!(Encoding::from_name("no-such-encoding").is_none());
    }

    #[test]
    fn text_is_what_the_server_reads() {
        assert_eq!(
            encodings("UTF8").decode("SELECT 'é'".as_bytes()).unwrap(),
            "SELECT 'é'"
        );
        assert_eq!(
            encodings("LATIN1").decode(b"SELECT '\xe9'").unwrap(),
            "SELECT 'é'"
        );
        assert_eq!(encodings("LATIN9").decode(b"'\xa4'").unwrap(), "'€'");
        assert_eq!(
            encodings("LATIN5").decode(b"'\x80\xfd'").unwrap(),
            "'\u{80}ı'"
        );
        assert_eq!(encodings("WIN1251").decode(b"'\xc0'").unwrap(), "'А'");
        // Plain ASCII reads alike under every encoding, client-only ones included.
        assert_eq!(encodings("SJIS").decode(b"SELECT 1").unwrap(), "SELECT 1");
    }

    #[test]
    fn what_cannot_be_followed_is_refused() {
        // 0x95 0x5c is one SJIS character whose second byte is a backslash.
        assert_eq!(
            encodings("SJIS").decode(b"SELECT E'\x95\\' ; DELETE FROM t; --'"),
            Err(DecodeError::ClientOnly("SJIS"))
        );
        assert_eq!(
            encodings("UTF8")
                .decode(b"SELECT E'\x95\\'")
                .unwrap_err()
                .to_string(),
            "invalid byte sequence for encoding \"UTF8\": 0x95"
        );
        assert_eq!(
            encodings("UTF8")
                .decode(b"SELECT '\xe2\x82'")
                .unwrap_err()
                .to_string(),
            "invalid byte sequence for encoding \"UTF8\": 0xe2 0x82 0x27"
        );
        assert!(encodings("EUC_TW").decode(b"'\xa1\xa1'").is_err());
    }

    #[test]
    fn escaped_keeps_every_byte() {
        assert_eq!(escaped(b"a\\b\x95'"), "a\\\\b\\x95'");
        assert_eq!(escaped("é".as_bytes()), "é");
    }
}
