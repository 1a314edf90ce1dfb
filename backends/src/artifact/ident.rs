//! Model names as C identifiers, and strings as C literals.

use super::ArtifactError;

/// Words that cannot name the model: the Rust binding declares `fn NAME()`
/// (`nnc_runtime::declare_model!`), so Rust's keywords are out. As a prefix
/// (`NAME_run`), C's keywords are harmless.
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// The model name as a C identifier, the prefix of every exported symbol: each
/// character outside `[A-Za-z0-9_]` becomes `_` (`my-model` -> `my_model`), and a
/// leading digit gets a `model_` prefix (`3dunet` -> `model_3dunet`). Refuses a
/// name with no letter or digit, and Rust keywords.
pub fn c_identifier(name: &str) -> Result<String, ArtifactError> {
    let invalid = |reason: &str| ArtifactError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid("it needs at least one ASCII letter or digit"));
    }
    let mut ident: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert_str(0, "model_");
    }
    if RUST_KEYWORDS.contains(&ident.as_str()) {
        return Err(invalid(
            "it is a Rust keyword, which the Rust binding cannot use",
        ));
    }
    Ok(ident)
}

/// `text` as a C string literal: quotes, backslashes, `?` (trigraphs) and every
/// byte outside printable ASCII escaped, the latter as three octal digits so that
/// no following character extends the escape.
pub fn c_string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'?' => out.push_str("\\?"),
            b' '..=b'~' => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out.push('"');
    out
}

/// `text` safe inside a C block comment.
pub(crate) fn c_comment_text(text: &str) -> String {
    text.replace("*/", "* /")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_from_file_stems() {
        assert_eq!(c_identifier("mobilenet_v2").unwrap(), "mobilenet_v2");
        assert_eq!(c_identifier("my-model").unwrap(), "my_model");
        assert_eq!(
            c_identifier("resnet18.v1 (int8)").unwrap(),
            "resnet18_v1__int8_"
        );
        assert_eq!(c_identifier("3dunet").unwrap(), "model_3dunet");
        assert_eq!(c_identifier("modèle").unwrap(), "mod_le");
        assert_eq!(c_identifier("_private").unwrap(), "_private");
    }

    #[test]
    fn refuses_names_without_letters_and_rust_keywords() {
        for bad in ["", "---", "é", "type", "fn"] {
            let err = c_identifier(bad).unwrap_err();
            assert!(err.to_string().contains("model name"), "{err}");
        }
    }

    #[test]
    fn escapes_c_string_literals() {
        assert_eq!(c_string_literal("input.1"), "\"input.1\"");
        assert_eq!(c_string_literal("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(c_string_literal("??=x"), "\"\\?\\?=x\"");
        assert_eq!(c_string_literal("é1"), "\"\\303\\2511\"");
        assert_eq!(c_string_literal("a\nb"), "\"a\\012b\"");
    }
}
