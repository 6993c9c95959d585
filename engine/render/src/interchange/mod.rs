//! Editorial interchange (see the crate docs).
