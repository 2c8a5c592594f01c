//! `${env:NAME}` and `${file:PATH}` in target values.
//!
//! The resolved value of a secret field is registered with the redactor by the caller; this
//! module only resolves, and its errors name the variable or path, never the value.

use std::path::Path;

/// Why a `${…}` reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    EnvNotSet(String),
    EnvNotUnicode(String),
    File { path: String, reason: String },
    Unterminated,
    UnknownSource(String),
}

impl InterpolationError {
    pub fn message(&self) -> String {
        match self {
            InterpolationError::EnvNotSet(n) => format!("environment variable {n} is not set"),
            InterpolationError::EnvNotUnicode(n) => {
                format!("environment variable {n} is not valid Unicode")
            }
            InterpolationError::File { path, reason } => format!("cannot read {path}: {reason}"),
            InterpolationError::Unterminated => "`${` without a closing `}`".to_owned(),
            InterpolationError::UnknownSource(s) => format!("unknown reference `${{{s}}}`"),
        }
    }

    pub fn hint(&self) -> String {
        match self {
            InterpolationError::EnvNotSet(n) | InterpolationError::EnvNotUnicode(n) => format!(
                "the target reads it through ${{env:{n}}}; export it, or use ${{file:PATH}} instead"
            ),
            InterpolationError::File { .. } => {
                "paths in ${file:…} are relative to the target file's directory".to_owned()
            }
            InterpolationError::Unterminated => "close the reference: ${env:NAME}".to_owned(),
            InterpolationError::UnknownSource(_) => {
                "use ${env:NAME} or ${file:PATH}; write $${ for a literal ${".to_owned()
            }
        }
    }
}

/// Resolves every reference in `raw`. Whether the result was interpolated is returned too,
/// because only an interpolated value can be a secret the file itself does not show.
pub fn resolve(raw: &str, base_dir: &Path) -> Result<(String, bool), InterpolationError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    let mut interpolated = false;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
            continue;
        }
        let Some(body) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let end = body.find('}').ok_or(InterpolationError::Unterminated)?;
        let reference = &body[..end];
        out.push_str(&lookup(reference, base_dir)?);
        interpolated = true;
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok((out, interpolated))
}

fn lookup(reference: &str, base_dir: &Path) -> Result<String, InterpolationError> {
    if let Some(name) = reference.strip_prefix("env:") {
        return match std::env::var(name) {
            Ok(v) => Ok(v),
            Err(std::env::VarError::NotPresent) => Err(InterpolationError::EnvNotSet(name.into())),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(InterpolationError::EnvNotUnicode(name.into()))
            }
        };
    }
    if let Some(path) = reference.strip_prefix("file:") {
        let full = base_dir.join(path);
        return std::fs::read_to_string(&full).map_err(|e| InterpolationError::File {
            path: full.display().to_string(),
            reason: e.to_string(),
        });
    }
    Err(InterpolationError::UnknownSource(reference.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            resolve("abc $x", Path::new(".")).unwrap(),
            ("abc $x".into(), false)
        );
    }

    #[test]
    fn escaped_dollar_brace_is_literal() {
        assert_eq!(resolve("a$${b}", Path::new(".")).unwrap().0, "a${b}");
    }

    #[test]
    fn file_reference_reads_relative_to_base() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pem"), "KEY").unwrap();
        assert_eq!(
            resolve("${file:k.pem}", dir.path()).unwrap(),
            ("KEY".into(), true)
        );
    }

    #[test]
    fn errors_name_the_reference() {
        let e = resolve("${env:FAPI_HARNESS_SURELY_UNSET_VAR}", Path::new(".")).unwrap_err();
        assert_eq!(
            e,
            InterpolationError::EnvNotSet("FAPI_HARNESS_SURELY_UNSET_VAR".into())
        );
        assert_eq!(
            resolve("${env:X", Path::new(".")).unwrap_err(),
            InterpolationError::Unterminated
        );
        assert!(matches!(
            resolve("${vault:x}", Path::new(".")).unwrap_err(),
            InterpolationError::UnknownSource(_)
        ));
    }
}
