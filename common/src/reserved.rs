//! Swift's reserved namespace: names that start with NUL (object
//! versioning's `\0versions\0<container>`, its `\0<object>\0<inverted
//! timestamp>`). Clients can never name them (the proxy refuses a NUL in
//! a path unless the request carries X-Backend-Allow-Reserved-Names, which
//! only middleware sets); the storage servers keep them, but a NUL
//! anywhere but at the start of a name, or an object and container on
//! different sides of the namespace, is refused (Swift's
//! `validate_internal_*` in request_helpers.py), and listings leave them
//! out unless asked.

/// The reserved namespace's separator and first character.
pub const RESERVED: char = '\0';

/// Why a name is refused (400 with this text, as Swift answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservedError {
    #[error("Invalid reserved-namespace {0}")]
    Misplaced(&'static str),
    #[error("Invalid user-namespace object in reserved-namespace container")]
    UserObjectInReserved,
    #[error("Invalid reserved-namespace object in user-namespace container")]
    ReservedObjectInUser,
}

/// Is `name` in the reserved namespace?
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED)
}

/// Swift's `_validate_internal_name`: a NUL only at the start.
fn check_name(name: &str, what: &'static str) -> Result<(), ReservedError> {
    if name.contains(RESERVED) && !is_reserved(name) {
        return Err(ReservedError::Misplaced(what));
    }
    Ok(())
}

/// Swift's `validate_internal_account`.
pub fn check_account(account: &str) -> Result<(), ReservedError> {
    check_name(account, "account")
}

/// Swift's `validate_internal_container` (an empty container: the account only).
pub fn check_container(account: &str, container: &str) -> Result<(), ReservedError> {
    check_account(account)?;
    check_name(container, "container")
}

/// Swift's `validate_internal_obj`: besides the names' own rule, a
/// reserved object lives only in a reserved container and the other way
/// round (but for the internal `.`-accounts, whose object names are
/// paths of other objects).
pub fn check_object(account: &str, container: &str, object: &str) -> Result<(), ReservedError> {
    check_container(account, container)?;
    if object.is_empty() || account.starts_with('.') {
        return Ok(());
    }
    check_name(object, "object")?;
    match (is_reserved(container), is_reserved(object)) {
        (true, false) => Err(ReservedError::UserObjectInReserved),
        (false, true) => Err(ReservedError::ReservedObjectInUser),
        _ => Ok(()),
    }
}

/// Does any of these names hold a NUL (a path only middleware may use)?
pub fn any_reserved<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    names.into_iter().any(|n| n.contains(RESERVED))
}

/// Swift's `get_reserved_name`: NUL, then the parts joined by NUL; None
/// when a part holds a NUL itself.
pub fn reserved_name(parts: &[&str]) -> Option<String> {
    if any_reserved(parts.iter().copied()) {
        return None;
    }
    let mut out = String::from(RESERVED);
    out.push_str(&parts.join("\0"));
    Some(out)
}

/// Swift's `split_reserved_name`: the parts of a reserved name; None when
/// it is not one.
pub fn split_reserved_name(name: &str) -> Option<Vec<&str>> {
    name.strip_prefix(RESERVED)
        .map(|rest| rest.split(RESERVED).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_namespace() {
        assert_eq!(check_account("AUTH_a"), Ok(()));
        assert_eq!(check_account("\0a"), Ok(()));
        assert_eq!(
            check_account("a\0"),
            Err(ReservedError::Misplaced("account"))
        );
        assert_eq!(check_container("a", "\0versions\0c"), Ok(()));
        assert_eq!(
            check_container("a", "c\0"),
            Err(ReservedError::Misplaced("container"))
        );
        assert_eq!(
            check_container("a\0", "c"),
            Err(ReservedError::Misplaced("account"))
        );
        assert_eq!(check_object("a", "\0v\0c", "\0o\u{0}9999"), Ok(()));
        assert_eq!(check_object("a", "c", "o"), Ok(()));
        assert_eq!(
            check_object("a", "c", "o\0x"),
            Err(ReservedError::Misplaced("object"))
        );
        assert_eq!(
            check_object("a", "\0v\0c", "o"),
            Err(ReservedError::UserObjectInReserved)
        );
        assert_eq!(
            check_object("a", "c", "\0o"),
            Err(ReservedError::ReservedObjectInUser)
        );
        // Internal accounts' object names are not judged.
        assert_eq!(check_object(".expiring_objects", "c", "o\0x"), Ok(()));
        assert_eq!(
            ReservedError::Misplaced("object").to_string(),
            "Invalid reserved-namespace object"
        );
    }

    #[test]
    fn building_and_splitting() {
        assert_eq!(
            reserved_name(&["versions", "c"]).as_deref(),
            Some("\0versions\0c")
        );
        assert_eq!(reserved_name(&["o", ""]).as_deref(), Some("\0o\0"));
        assert_eq!(reserved_name(&["a\0"]), None);
        assert_eq!(
            split_reserved_name("\0versions\0c"),
            Some(vec!["versions", "c"])
        );
        assert_eq!(split_reserved_name("c"), None);
        assert!(any_reserved(["a", "b\0"]));
        assert!(!any_reserved(["a", "b"]));
    }
}
