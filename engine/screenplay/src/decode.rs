//! Bytes to text. Screenplay files come from many editors: UTF-8 with or without a BOM, UTF-16
//! from Windows tools, and now and then a legacy 8-bit encoding. The last is refused with the
//! exact position of the first bad byte, because guessing a code page silently corrupts names.

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// Decodes `bytes` as UTF-8 (BOM skipped) or UTF-16 LE/BE (with a BOM, or without one when the
/// first character is plain ASCII, which a NUL byte beside it gives away).
pub(crate) fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, ParseError> {
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        return decode_utf8(rest);
    }
    match bytes {
        [0xFF, 0xFE, rest @ ..] => decode_utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => decode_utf16(rest, u16::from_be_bytes),
        [first, 0, ..] if *first != 0 && first.is_ascii() => {
            decode_utf16(bytes, u16::from_le_bytes)
        }
        [0, second, ..] if *second != 0 && second.is_ascii() => {
            decode_utf16(bytes, u16::from_be_bytes)
        }
        _ => decode_utf8(bytes),
    }
}

fn decode_utf8(bytes: &[u8]) -> Result<Cow<'_, str>, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            // `valid` is valid UTF-8 by definition of valid_up_to; the fallback never runs.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let (line, column) = position_after(prefix);
            let byte = bytes.get(error.valid_up_to()).copied().unwrap_or_default();
            Err(ParseError::new(
                ParseErrorKind::InvalidUtf8,
                line,
                column,
                format!("byte 0x{byte:02X} is not valid UTF-8; screenplay files must be UTF-8"),
                None,
                "re-save the file as UTF-8 in your editor (\"Save As…\", encoding UTF-8), or \
                 convert it, e.g. `iconv -f WINDOWS-1252 -t UTF-8 in.fountain > out.fountain`",
            ))
        }
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<Cow<'static, str>, ParseError> {
    let mut text = String::with_capacity(bytes.len() / 2);
    let units = bytes
        .chunks_exact(2)
        .map(|pair| unit([pair[0], pair.get(1).copied().unwrap_or_default()]));
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => text.push(c),
            Err(error) => {
                let (line, column) = position_after(&text);
                return Err(ParseError::new(
                    ParseErrorKind::InvalidUtf16,
                    line,
                    column,
                    format!(
                        "unpaired UTF-16 surrogate 0x{:04X}; the file has a UTF-16 byte-order \
                         mark but is not valid UTF-16",
                        error.unpaired_surrogate()
                    ),
                    None,
                    "re-save the file as UTF-8 in your editor",
                ));
            }
        }
    }
    if bytes.len() % 2 == 1 {
        let (line, column) = position_after(&text);
        return Err(ParseError::new(
            ParseErrorKind::InvalidUtf16,
            line,
            column,
            "the file ends in the middle of a UTF-16 character (odd number of bytes)",
            None,
            "the file looks truncated; re-save it as UTF-8 in your editor",
        ));
    }
    Ok(Cow::Owned(text))
}

/// The 1-based line and column just after `prefix`, counting `\r\n`, `\r` and `\n` as one line
/// break each, as the Fountain reader does.
pub(crate) fn position_after(prefix: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut previous_cr = false;
    for c in prefix.chars() {
        match c {
            '\n' if previous_cr => {}
            '\n' | '\r' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
        previous_cr = c == '\r';
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_is_skipped() {
        assert_eq!(decode(b"\xEF\xBB\xBFhello").ok().as_deref(), Some("hello"));
    }

    #[test]
    fn utf16_both_byte_orders() {
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("hé\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("hé\n".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(&le).ok().as_deref(), Some("hé\n"));
        assert_eq!(decode(&be).ok().as_deref(), Some("hé\n"));
    }

    #[test]
    fn invalid_utf8_reports_line_and_column_of_the_bad_byte() {
        let Err(error) = decode(b"INT. HOUSE\r\n\r\nCaf\xE9 au lait") else {
            panic!("latin-1 byte accepted");
        };
        assert_eq!((error.line, error.column), (3, 4));
        assert_eq!(error.kind, ParseErrorKind::InvalidUtf8);
        assert!(error.to_string().contains("must be UTF-8"), "{error}");
    }

    #[test]
    fn odd_utf16_is_an_error() {
        assert!(decode(&[0xFF, 0xFE, b'a', 0, b'b']).is_err());
    }

    #[test]
    fn positions_count_cr_lf_once() {
        assert_eq!(position_after("a\r\nb\rc\nde"), (4, 3));
    }
}
