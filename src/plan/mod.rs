//! The YAML test plan: model, loading with located diagnostics, and selection.

mod load;
mod model;
pub mod select;

pub use load::{BUILTIN, LoadedPlan, load_plan};
pub use model::*;
