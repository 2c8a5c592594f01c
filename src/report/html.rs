//! The self-contained HTML report (askama).

use super::RunRecord;

pub fn render(record: &RunRecord) -> String {
    let _ = record;
    String::new()
}
