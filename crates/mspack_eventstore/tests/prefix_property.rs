//! The table prefix is pasted into SQL, so whatever it accepts must be a plain identifier.

use mspack_eventstore::TablePrefix;
use proptest::prelude::*;

proptest! {
    #[test]
    fn accepted_prefixes_are_plain_identifiers(s in ".{0,50}") {
        if let Ok(prefix) = TablePrefix::new(s.clone()) {
            prop_assert!(prefix.as_str().len() <= 40);
            prop_assert!(prefix.as_str().starts_with(|c: char| c.is_ascii_lowercase()));
            prop_assert!(prefix
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
    }

    #[test]
    fn identifiers_are_accepted(s in "[a-z][a-z0-9_]{0,39}") {
        prop_assert!(TablePrefix::new(s).is_ok());
    }
}
