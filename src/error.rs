//! User-facing errors: a message, where (file:line:col and a snippet), a hint, and the exit code.
//!
//! Library modules build `Diagnostic`s; `main.rs` prints them once and exits. Messages never
//! contain secret values.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes, the only three the binary uses (README, "Exit codes").
pub mod exit {
    /// No FAIL and no ERROR (and no WARN under `--strict`).
    pub const OK: i32 = 0;
    /// At least one FAIL or ERROR, or the run was interrupted.
    pub const FAILED: i32 = 1;
    /// Usage, plan or target error: nothing ran.
    pub const USAGE: i32 = 2;
}

/// Where in an input file a problem sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: PathBuf,
    /// 1-based; 0 when only the file is known.
    pub line: u64,
    pub column: u64,
}

/// One problem with an input, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub location: Option<SourceLocation>,
    /// The offending source line(s), already rendered.
    pub snippet: Option<String>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            location: None,
            snippet: None,
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Points at `line:column` of `file`, quoting the line from `source` when given.
    pub fn at(mut self, file: &Path, line: u64, column: u64, source: Option<&str>) -> Self {
        self.location = Some(SourceLocation {
            file: file.to_path_buf(),
            line,
            column,
        });
        if let Some(src) = source {
            self.snippet = snippet(src, line, column);
        }
        self
    }

    pub fn in_file(mut self, file: &Path) -> Self {
        self.location = Some(SourceLocation {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
        });
        self
    }
}

fn snippet(source: &str, line: u64, column: u64) -> Option<String> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    let text = source.lines().nth(index)?;
    let gutter = line.to_string();
    let pad = " ".repeat(gutter.len());
    let caret_col = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
    let caret_col = caret_col.min(text.chars().count());
    Some(format!(
        "{pad} |\n{gutter} | {text}\n{pad} | {}^",
        " ".repeat(caret_col)
    ))
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if let Some(loc) = &self.location {
            if loc.line > 0 {
                writeln!(
                    f,
                    "  --> {}:{}:{}",
                    loc.file.display(),
                    loc.line,
                    loc.column
                )?;
            } else {
                writeln!(f, "  --> {}", loc.file.display())?;
            }
        }
        if let Some(s) = &self.snippet {
            writeln!(f, "{s}")?;
        }
        if let Some(h) = &self.hint {
            writeln!(f, "hint: {h}")?;
        }
        Ok(())
    }
}

/// One or more diagnostics that stop the command before anything runs (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub diagnostics: Vec<Diagnostic>,
}

impl InputError {
    pub fn one(d: Diagnostic) -> Self {
        InputError {
            diagnostics: vec![d],
        }
    }
}

impl From<Diagnostic> for InputError {
    fn from(d: Diagnostic) -> Self {
        InputError::one(d)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.diagnostics.len() > 1 {
            writeln!(f, "\n{} problems found", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// Reads a UTF-8 input file, turning I/O failures into a diagnostic with a hint.
pub fn read_input(path: &Path, what: &str) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("check the path; the {what} file does not exist")
            }
            std::io::ErrorKind::PermissionDenied => format!("make the {what} file readable"),
            _ => format!("the {what} file must be a readable file"),
        };
        Diagnostic::new(format!("cannot read {what} file {}: {e}", path.display())).hint(hint)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::new(format!(
            "{what} file {} is not UTF-8 (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
        .hint("save the file as UTF-8")
    })
}

/// Turns a serde-saphyr error into a located diagnostic with a hint for the common mistakes.
/// The hints point at `docs/<what>-format.md`.
pub fn yaml_diagnostic(
    err: &serde_saphyr::Error,
    file: &Path,
    source: &str,
    what: &str,
) -> Diagnostic {
    yaml_diagnostic_in(err, file, source, what, &format!("docs/{what}-format.md"))
}

/// As [`yaml_diagnostic`], for a file whose format is described in `doc` (a file kind without
/// a format document of its own, such as the coverage explanations).
pub fn yaml_diagnostic_in(
    err: &serde_saphyr::Error,
    file: &Path,
    source: &str,
    what: &str,
    doc: &str,
) -> Diagnostic {
    let raw = err.to_string();
    // serde-saphyr renders its own location prefix and snippet; keep only the message line.
    let message = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("-->") && !l.starts_with('|'))
        .unwrap_or("invalid YAML")
        .trim_start_matches("error: ")
        .to_owned();
    let message = strip_location_suffix(&message);
    let hint = if message.contains("unknown field") {
        format!("remove or correct the field; {doc} lists every field")
    } else if message.contains("unknown variant") {
        "use one of the names listed above".to_owned()
    } else if message.contains("missing field") {
        format!("add the field; {doc} says what it holds")
    } else if message.contains("duplicate") {
        "each key may appear once per mapping".to_owned()
    } else if message.contains("invalid type") {
        format!("check the value's type against {doc}")
    } else {
        "check the YAML syntax (indentation, quoting, colons) at this position".to_owned()
    };
    let d = Diagnostic::new(format!("invalid {what}: {message}")).hint(hint);
    match err.location() {
        Some(loc) if loc.line() > 0 => d.at(file, loc.line(), loc.column(), Some(source)),
        _ => d.in_file(file),
    }
}

/// serde messages carry `line L column C: ` in front or ` at line L column C` behind; the
/// location is printed separately, so both are dropped.
fn strip_location_suffix(message: &str) -> String {
    let mut m = message;
    if let Some(rest) = m.strip_prefix("line ")
        && let Some((pos, tail)) = rest.split_once(": ")
        && pos.contains(" column ")
    {
        m = tail;
    }
    match m.rfind(" at line ") {
        Some(i) if m[i..].contains("column") => m[..i].to_owned(),
        _ => m.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_and_hint() {
        let d = Diagnostic::new("unknown field `clent_id`")
            .at(Path::new("t.yaml"), 2, 3, Some("a: 1\n  clent_id: x\n"))
            .hint("did you mean `client_id`?");
        let text = d.to_string();
        assert!(text.contains("--> t.yaml:2:3"), "{text}");
        assert!(text.contains("2 |   clent_id: x"), "{text}");
        assert!(text.contains("  |   ^"), "{text}");
        assert!(text.contains("hint: did you mean"), "{text}");
    }

    #[test]
    fn snippet_survives_out_of_range_positions() {
        let d = Diagnostic::new("x").at(Path::new("t.yaml"), 99, 99, Some("a: 1\n"));
        assert!(d.snippet.is_none());
        let d = Diagnostic::new("x").at(Path::new("t.yaml"), 1, 99, Some("a: 1\n"));
        assert!(d.snippet.is_some());
    }
}
