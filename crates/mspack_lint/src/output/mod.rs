//! Rendering a [`Report`](crate::Report): text (rustc-style snippets), JSON, SARIF 2.1.0, GitHub
//! workflow annotations.

mod github;
mod json;
mod sarif;
mod text;

pub use github::render_github;
pub use json::{render_json, report_json, write_json};
pub use sarif::render_sarif;
pub use text::render_text;

/// Output formats of `mspack lint --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "github" => Some(Format::Github),
            _ => None,
        }
    }
}

/// Render a report in `format`; `color` only affects text.
pub fn render(report: &crate::Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => render_text(report, color),
        Format::Json => render_json(report),
        Format::Sarif => render_sarif(report),
        Format::Github => render_github(report),
    }
}
