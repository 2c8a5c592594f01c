//! The JSON report: the `RunRecord` under a versioned envelope (schema in docs/report-json.md).

use serde::Serialize;

use super::RunRecord;

/// Bumped on any change that can break a consumer (a field removed, renamed or retyped).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    schema_version: u32,
    #[serde(flatten)]
    record: &'a RunRecord,
}

pub fn render(record: &RunRecord) -> String {
    let envelope = Envelope {
        schema_version: SCHEMA_VERSION,
        record,
    };
    // Serializing owned strings, numbers and maps with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(&envelope).expect("RunRecord serializes");
    text.push('\n');
    text
}
