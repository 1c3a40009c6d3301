//! GitHub's page-number pagination: `page` and `per_page` in, a `Link` header out.

use std::collections::HashMap;

use axum::http::HeaderValue;

use crate::domain::validate::Problems;
use crate::error::ApiError;
use crate::store::Page;

pub const DEFAULT_PER_PAGE: u32 = 30;
pub const MAX_PER_PAGE: u32 = 100;

/// A whole number of at least 1 from the query, or `default` when absent.
fn read_positive(
    query: &HashMap<String, String>,
    name: &str,
    default: u32,
    problems: &mut Problems,
) -> Option<u32> {
    match query.get(name) {
        None => Some(default),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(value) if value >= 1 => Some(u32::try_from(value).unwrap_or(u32::MAX)),
            _ => {
                problems.invalid(
                    name,
                    format!("{name} must be a whole number of at least 1, not {text:?}"),
                );
                None
            }
        },
    }
}

/// `per_page`: default 30, above 100 counts as 100; a bad one is reported to `problems`.
pub fn read_per_page(query: &HashMap<String, String>, problems: &mut Problems) -> u32 {
    read_positive(query, "per_page", DEFAULT_PER_PAGE, problems)
        .unwrap_or(DEFAULT_PER_PAGE)
        .min(MAX_PER_PAGE)
}

/// Reads `page` (default 1) and `per_page`.
///
/// # Errors
/// 422 when either is not a whole number of at least 1.
pub fn read_page(
    query: &HashMap<String, String>,
    resource: &'static str,
) -> Result<Page, ApiError> {
    let mut problems = Problems::new(resource);
    let number = read_positive(query, "page", 1, &mut problems).unwrap_or(1);
    let per_page = read_per_page(query, &mut problems);
    Ok(problems.finish(|| Page { number, per_page })?)
}

/// GitHub's `Link` header for page `page` of `total` items at `collection_url`, or `None`
/// when everything fits on one page.
pub fn link_header(collection_url: &str, page: Page, total: u64) -> Option<HeaderValue> {
    let per_page = u64::from(page.per_page);
    let last = total.div_ceil(per_page).max(1);
    let current = u64::from(page.number);
    let link = |number: u64, rel: &str| {
        format!("<{collection_url}?per_page={per_page}&page={number}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if current > 1 {
        links.push(link(current.min(last + 1) - 1, "prev"));
    }
    if current < last {
        links.push(link(current + 1, "next"));
        links.push(link(last, "last"));
    }
    if current > 1 {
        links.push(link(1, "first"));
    }
    if links.is_empty() {
        return None;
    }
    HeaderValue::from_str(&links.join(", ")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn per_page_is_capped_and_checked() {
        assert_eq!(
            read_page(&query(&[]), "Hook").unwrap(),
            Page {
                number: 1,
                per_page: 30
            }
        );
        assert_eq!(
            read_page(&query(&[("per_page", "500"), ("page", "2")]), "Hook").unwrap(),
            Page {
                number: 2,
                per_page: 100
            }
        );
        for bad in ["0", "-1", "x", "1.5"] {
            assert!(
                read_page(&query(&[("per_page", bad)]), "Hook").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn links_name_neighbours() {
        let url = "http://h/api/v3/repos/a/b/hooks";
        assert_eq!(
            link_header(
                url,
                Page {
                    number: 1,
                    per_page: 2
                },
                2
            ),
            None
        );
        let first = link_header(
            url,
            Page {
                number: 1,
                per_page: 2,
            },
            5,
        )
        .unwrap();
        assert_eq!(
            first.to_str().unwrap(),
            "<http://h/api/v3/repos/a/b/hooks?per_page=2&page=2>; rel=\"next\", \
             <http://h/api/v3/repos/a/b/hooks?per_page=2&page=3>; rel=\"last\""
        );
        let last = link_header(
            url,
            Page {
                number: 3,
                per_page: 2,
            },
            5,
        )
        .unwrap();
        assert!(last.to_str().unwrap().contains("page=2>; rel=\"prev\""));
        assert!(!last.to_str().unwrap().contains("next"));
    }
}
