//! Waiting for scans: the bus that tells every instance a code was scanned ([`bus`]), the
//! first scan of a code and the wait for it ([`wait`]), and account bindings built on them
//! ([`bindings`]).

pub mod bindings;
pub mod bus;
pub mod wait;
