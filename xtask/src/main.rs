//! Repository chores. Placeholder until the generators land.
fn main() {}
